"""Incremental Server-Sent Events decoding.

Holds :class:`SSEEvent`, one dispatched event, and :class:`SSEDecoder`, which
turns an ``text/event-stream`` body delivered as arbitrary byte chunks into
events following the WHATWG "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html).

Besides the events themselves the decoder records things a conformance check
wants to report on but that the spec tells a browser to silently swallow:
comment (keep-alive) lines, lines that were not valid UTF-8, and whether the
stream ended in the middle of an event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]

_BOM = b"\xef\xbb\xbf"
_EOL_TEXT = re.compile("\r\n|\r|\n")
_EOL_BYTES = re.compile(b"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event.

    ``id`` is the decoder's last-event-id buffer at dispatch time, so it
    carries over from earlier events exactly as the spec's ``lastEventId``
    does; ``None`` means no ``id`` field has been seen on the stream yet.
    ``retry`` is the value of a valid ``retry`` field inside this event's
    block, or ``None`` (the persisting reconnection time is
    :attr:`SSEDecoder.retry`).
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    has_event_field: bool = False


class SSEDecoder:
    """Incremental ``text/event-stream`` parser.

    Feed raw bytes with :meth:`feed` in chunks split anywhere, and call
    :meth:`flush` once the body ends.

    Public, read-only-by-convention state:

    * ``comments`` -- number of comment lines (``:...``) seen.
    * ``invalid_utf8_lines`` -- number of lines that needed U+FFFD replacement.
    * ``pending_incomplete`` -- set by :meth:`flush`: True when the stream
      ended after a non-comment line (or partial line) that was not followed by
      the blank line which would have completed the event.
    * ``last_event_id`` -- the last-event-id buffer (``None`` if never set).
    * ``retry`` -- the reconnection time from the latest valid ``retry`` field.
    """

    def __init__(self) -> None:
        self.comments = 0
        self.invalid_utf8_lines = 0
        self.pending_incomplete = False
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self._reset_stream()

    def _reset_stream(self) -> None:
        # Bytes of an unterminated line. Kept as a list so a long line that
        # trickles in over many chunks is joined once, not re-copied per chunk.
        self._partial: list[bytes] = []
        self._bom_pending = True
        # A chunk ended in CR: that line is already processed, but an LF at
        # the start of the next chunk belongs to the same CRLF terminator.
        self._skip_lf = False
        self._reset_event()

    def _reset_event(self) -> None:
        self._data: list[str] = []
        self._event_type = ""
        self._has_event_field = False
        self._event_retry: int | None = None
        self._fields_seen = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events it completed."""
        if not chunk:
            return []
        if type(chunk) is not bytes:
            chunk = bytes(chunk)

        if self._bom_pending:
            # The BOM itself may arrive split across chunks; hold bytes back
            # until we can tell whether the stream starts with one.
            if self._partial:
                chunk = b"".join(self._partial) + chunk
                self._partial = []
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._partial.append(chunk)
                return []
            self._bom_pending = False
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
                if not chunk:
                    return []
        elif self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []

        nl = chunk.rfind(b"\n")
        cr = chunk.rfind(b"\r")
        end = nl if nl > cr else cr
        if end < 0:
            self._partial.append(chunk)
            return []
        if self._partial:
            head = b"".join(self._partial)
            self._partial = []
            end += len(head)
            chunk = head + chunk

        end += 1
        if end < len(chunk):
            self._partial.append(chunk[end:])
            block = chunk[:end]
        else:
            block = chunk
            # A trailing CR is a complete terminator on its own; handling the
            # line now (rather than waiting for the next chunk) means an event
            # ended by "\r\r" is delivered without extra latency.
            self._skip_lf = chunk[-1] == 0x0D

        # Line terminators are ASCII and never occur inside a multi-byte UTF-8
        # sequence, so a block of whole lines decodes cleanly on its own; one
        # decode call for the whole block is the fast, common case.
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            lines = self._decode_lines_lossy(block)
        else:
            lines = _EOL_TEXT.split(text) if "\r" in text else text.split("\n")
            lines.pop()
        return self._process(lines)

    def flush(self) -> list[SSEEvent]:
        """Signal end of stream.

        Events are only ever dispatched by a blank line, so nothing can be
        returned here: any buffered, unterminated event is discarded as the
        spec requires, and ``pending_incomplete`` records whether there was
        one. Line and event state are then cleared (the last event id and
        reconnection time persist), so the decoder can be fed a reconnected
        stream.
        """
        partial = b"".join(self._partial)
        if self._bom_pending and _BOM.startswith(partial):
            partial = b""
        self.pending_incomplete = self._fields_seen or (
            bool(partial) and not partial.startswith(b":")
        )
        self._reset_stream()
        return []

    def _decode_lines_lossy(self, block: bytes) -> list[str]:
        # Decode per line so the counter reflects how many lines were damaged,
        # not how many chunks happened to contain damage.
        raw_lines = _EOL_BYTES.split(block)
        raw_lines.pop()
        lines = []
        for raw in raw_lines:
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                self.invalid_utf8_lines += 1
                lines.append(raw.decode("utf-8", "replace"))
        return lines

    def _process(self, lines: list[str]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(
                        SSEEvent(
                            self._event_type or "message",
                            "\n".join(data),
                            self.last_event_id,
                            self._event_retry,
                            self._has_event_field,
                        )
                    )
                self._reset_event()
                data = self._data
                continue
            if line[0] == ":":
                self.comments += 1
                continue

            self._fields_seen = True
            colon = line.find(":")
            if colon < 0:
                name = line
                value = ""
            else:
                name = line[:colon]
                value = line[colon + 1 :]
                if value and value[0] == " ":
                    value = value[1:]

            if name == "data":
                # Joining the values with "\n" at dispatch is the spec's
                # "append value and LF, then drop the final LF".
                data.append(value)
            elif name == "event":
                self._event_type = value
                self._has_event_field = True
            elif name == "id":
                if "\0" not in value:
                    self.last_event_id = value
            elif name == "retry":
                if value.isascii() and value.isdigit():
                    self.retry = self._event_retry = int(value)
        return events
