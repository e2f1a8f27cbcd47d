"""Tests for the incremental SSE decoder (conformance.transport.sse)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.transport.sse import SSEDecoder, SSEEvent


def decode(*chunks: bytes) -> tuple[list[SSEEvent], SSEDecoder]:
    dec = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(dec.feed(chunk))
    events.extend(dec.flush())
    return events, dec


def decode_bytewise(raw: bytes) -> list[SSEEvent]:
    return decode(*(raw[i : i + 1] for i in range(len(raw))))[0]


# --- line endings ---------------------------------------------------------

SAMPLE_LF = "event: a\ndata: 1\ndata: 2\n\n: keep\nid: 7\ndata: x\n\n"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_equivalent(eol: str) -> None:
    raw = SAMPLE_LF.replace("\n", eol).encode()
    expected = [
        SSEEvent("a", "1\n2", None, None, True),
        SSEEvent("message", "x", "7", None, False),
    ]
    events, dec = decode(raw)
    assert events == expected
    assert decode_bytewise(raw) == expected
    assert dec.comments == 1


def test_mixed_line_endings() -> None:
    events, _ = decode(b"data: a\rdata: b\r\ndata: c\n\r\n")
    assert events == [SSEEvent(data="a\nb\nc")]


def test_crlf_split_across_chunks_is_one_terminator() -> None:
    # If the LF were taken as a second terminator it would form a blank line
    # and dispatch "a" on its own.
    events, _ = decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert events == [SSEEvent(data="a\nb")]


def test_cr_at_chunk_end_followed_by_cr_is_blank_line() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\rdata: b\r\r") == [SSEEvent(data="a"), SSEEvent(data="b")]


def test_cr_terminated_event_dispatches_without_waiting() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r\r") == [SSEEvent(data="a")]
    # The LF that may follow is swallowed as part of the CRLF, not a new line.
    assert dec.feed(b"\ndata: b\n\n") == [SSEEvent(data="b")]


def test_lone_lf_after_skipped_lf_is_a_line() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\n") == []
    assert dec.feed(b"\n") == [SSEEvent(data="a")]


@pytest.mark.parametrize("sep", ["\v", "\f", "\x1c", "\x85", "\u2028", "\u2029"])
def test_only_cr_and_lf_terminate_lines(sep: str) -> None:
    events, _ = decode(f"data: a{sep}b\n\n".encode())
    assert events == [SSEEvent(data=f"a{sep}b")]


# --- fields ---------------------------------------------------------------


def test_comments_ignored_and_counted() -> None:
    events, dec = decode(b": hello\n:\ndata: x\n: mid\n\n:ping\n\n")
    assert events == [SSEEvent(data="x")]
    assert dec.comments == 4
    assert dec.pending_incomplete is False


def test_multiline_data_joined() -> None:
    events, _ = decode(b"data: one\ndata:two\ndata\ndata:  four\n\n")
    assert events == [SSEEvent(data="one\ntwo\n\n four")]


def test_only_one_space_after_colon_removed() -> None:
    events, _ = decode(b"data:  two spaces\nevent:   x\n\n")
    assert events == [SSEEvent(event="  x", data=" two spaces", has_event_field=True)]


def test_value_keeps_later_colons() -> None:
    events, _ = decode(b'data: {"a": 1}\nevent: a:b\n\n')
    assert events == [SSEEvent(event="a:b", data='{"a": 1}', has_event_field=True)]


def test_field_without_colon_has_empty_value() -> None:
    events, _ = decode(b"data\n\ndata\ndata\n\n")
    assert events == [SSEEvent(data=""), SSEEvent(data="\n")]


def test_event_name_and_has_event_field() -> None:
    events, _ = decode(
        b"event: ping\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\nevent: a\nevent: b\ndata: 4\n\n"
    )
    assert events == [
        SSEEvent("ping", "1", None, None, True),
        SSEEvent("message", "2", None, None, False),
        # An empty event name falls back to "message", but the line was sent.
        SSEEvent("message", "3", None, None, True),
        SSEEvent("b", "4", None, None, True),
    ]


def test_event_type_reset_after_dispatch_and_after_empty_block() -> None:
    events, _ = decode(b"event: lost\n\ndata: x\n\n")
    assert events == [SSEEvent(data="x")]


def test_id_persists_across_events() -> None:
    events, dec = decode(
        b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\n\ndata: d\n\n"
        b"id: bad\x00id\ndata: e\n\n"
    )
    assert [(e.data, e.id) for e in events] == [
        ("a", "1"),
        ("b", "1"),
        ("c", ""),  # a bare "id" resets the buffer to the empty string
        ("d", "2"),  # set by a block that itself dispatched nothing
        ("e", "2"),  # values containing NUL are ignored
    ]
    assert dec.last_event_id == "2"


def test_id_none_before_any_id_field() -> None:
    events, dec = decode(b"data: a\n\n")
    assert events[0].id is None
    assert dec.last_event_id is None


def test_retry_parsing() -> None:
    events, dec = decode(
        b"retry: 1500\ndata: a\n\n"
        b"data: b\n\n"
        b"retry: 12x\ndata: c\n\n"
        b"retry: -5\nretry:\nretry: 1.5\nretry: \xef\xbc\x91\xef\xbc\x92\ndata: d\n\n"
        b"retry: 0\n\n"
    )
    assert [(e.data, e.retry) for e in events] == [
        ("a", 1500),
        ("b", None),
        ("c", None),
        ("d", None),  # fullwidth digits are not ASCII digits
    ]
    assert dec.retry == 0


def test_unknown_fields_ignored() -> None:
    events, dec = decode(b"foo: bar\nDATA: no\nData: no\n data: no\ndata: yes\n\n")
    assert events == [SSEEvent(data="yes")]
    assert dec.pending_incomplete is False


def test_empty_data_buffer_dispatches_nothing() -> None:
    events, _ = decode(b"\n\n\nevent: x\n\nid: 3\n\nretry: 5\n\n: c\n\n")
    assert events == []


def test_data_with_empty_value_dispatches() -> None:
    events, _ = decode(b"data:\n\n")
    assert events == [SSEEvent(data="")]


# --- BOM ------------------------------------------------------------------


def test_bom_stripped_once() -> None:
    raw = b"\xef\xbb\xbfdata: a\n\n"
    assert decode(raw)[0] == [SSEEvent(data="a")]
    assert decode_bytewise(raw) == [SSEEvent(data="a")]
    # A second BOM belongs to the first line, making the field name unknown.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n")[0] == []


def test_bom_only_at_stream_start() -> None:
    events, _ = decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\ndata: \xef\xbb\xbfc\n\n")
    assert events == [SSEEvent(data="a"), SSEEvent(data="\ufeffc")]


def test_stream_without_bom_starting_like_one() -> None:
    events, dec = decode(b"\xef", b"\xbbx\n\ndata: a\n\n")
    assert events == [SSEEvent(data="a")]
    assert dec.invalid_utf8_lines == 1


def test_short_stream_is_not_mistaken_for_bom() -> None:
    assert decode(b"\n", b"\n")[0] == []
    assert decode(b"d", b"ata", b":x\n\n")[0] == [SSEEvent(data="x")]


# --- end of stream ---------------------------------------------------------


def test_truncated_final_event_dropped() -> None:
    events, dec = decode(b"data: a\n\ndata: b\n")
    assert events == [SSEEvent(data="a")]
    assert dec.pending_incomplete is True


def test_truncated_mid_line_dropped() -> None:
    events, dec = decode(b"data: a\n\nda")
    assert events == [SSEEvent(data="a")]
    assert dec.pending_incomplete is True


def test_unterminated_last_line_is_not_processed() -> None:
    # Without the final blank line the event is never dispatched, even if the
    # last line is a complete "data" line missing only its terminator.
    events, dec = decode(b"data: a\n")
    assert events == []
    assert dec.pending_incomplete is True


def test_complete_stream_not_pending() -> None:
    for raw in (b"", b"data: a\n\n", b"data: a\n\n: trailing comment\n", b"data: a\n\n:x"):
        _, dec = decode(raw)
        assert dec.pending_incomplete is False, raw


def test_flush_resets_for_reconnect() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"id: 9\ndata: a\n\ndata: lost\n") == [SSEEvent(data="a", id="9")]
    assert dec.flush() == []
    assert dec.pending_incomplete is True
    assert dec.feed(b"\xef\xbb\xbfdata: b\n\n") == [SSEEvent(data="b", id="9")]
    assert dec.flush() == []
    assert dec.pending_incomplete is False


# --- UTF-8 ----------------------------------------------------------------


def test_multibyte_split_across_chunks() -> None:
    raw = "data: é日本🎉\n\n".encode()
    expected = [SSEEvent(data="é日本🎉")]
    assert decode_bytewise(raw) == expected
    _, dec = decode(*(raw[i : i + 1] for i in range(len(raw))))
    assert dec.invalid_utf8_lines == 0


def test_invalid_utf8_replaced_and_counted() -> None:
    events, dec = decode(
        b"data: ok\ndata: \xff\xfe bad\ndata: tail\xe6\x97\n\nevent: \xc3(\ndata: x\n\n"
    )
    assert events == [
        SSEEvent(data="ok\n\ufffd\ufffd bad\ntail\ufffd"),
        SSEEvent(event="\ufffd(", data="x", has_event_field=True),
    ]
    assert dec.invalid_utf8_lines == 3


def test_invalid_utf8_counted_per_line_regardless_of_chunking() -> None:
    raw = b"data: \xff\n\ndata: \xc3\xa9\n\n"
    events, dec = decode(raw)
    dec2 = SSEDecoder()
    bytewise = []
    for i in range(len(raw)):
        bytewise.extend(dec2.feed(raw[i : i + 1]))
    assert events == bytewise == [SSEEvent(data="\ufffd"), SSEEvent(data="é")]
    assert dec.invalid_utf8_lines == dec2.invalid_utf8_lines == 1


def test_accepts_bytearray_and_memoryview() -> None:
    dec = SSEDecoder()
    assert dec.feed(bytearray(b"data: a\n")) == []
    assert dec.feed(memoryview(b"\n")) == [SSEEvent(data="a")]


# --- real-world shaped streams -------------------------------------------


def test_openai_chat_stream() -> None:
    chunks = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        },
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "Héllo 日本"}, "finish_reason": None}],
        },
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        },
    ]
    body = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)
    raw = (body + "data: [DONE]\n\n").encode()

    for events in (decode(raw)[0], decode_bytewise(raw)):
        assert [e.event for e in events] == ["message"] * 4
        assert not any(e.has_event_field for e in events)
        assert [json.loads(e.data) for e in events[:-1]] == chunks
        assert events[-1].data == "[DONE]"
        assert "".join(
            json.loads(e.data)["choices"][0]["delta"].get("content", "") for e in events[:-1]
        ) == "Héllo 日本"


def test_anthropic_messages_stream() -> None:
    frames = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude", "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bonjour 🎉"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    raw = "".join(
        f"event: {name}\r\ndata: {json.dumps(payload, ensure_ascii=False)}\r\n\r\n"
        for name, payload in frames
    ).encode()

    for events in (decode(raw)[0], decode_bytewise(raw)):
        assert [e.event for e in events] == [name for name, _ in frames]
        assert all(e.has_event_field for e in events)
        assert [json.loads(e.data) for e in events] == [p for _, p in frames]
        assert [json.loads(e.data)["type"] for e in events] == [e.event for e in events]


# --- property tests --------------------------------------------------------

_LINE_ALPHABET = st.characters(codec="utf-8", exclude_characters="\r\n")
_line_text = st.one_of(
    st.text(_LINE_ALPHABET, max_size=12),
    st.sampled_from(["", " ", "é", "日本", "🎉", "a: b", " leading", "\ufeff", "ünïcödé 😀 text"]),
)
_id_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=8
)


@st.composite
def _event_specs(draw):
    return {
        "event": draw(st.none() | _line_text),
        "data_lines": draw(st.lists(_line_text, min_size=1, max_size=4)),
        "id": draw(st.none() | _id_text),
        "retry": draw(st.none() | st.integers(min_value=0, max_value=10**7)),
    }


@st.composite
def _streams(draw):
    """A serialized stream and the events and comment count it must produce."""
    specs = draw(st.lists(_event_specs(), max_size=6))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    comment = st.text(_LINE_ALPHABET, max_size=8).map(lambda t: ":" + t)
    maybe_comments = st.lists(comment, max_size=2)

    lines: list[str] = []
    comments = 0

    def add_comments() -> None:
        nonlocal comments
        extra = draw(maybe_comments)
        comments += len(extra)
        lines.extend(extra)

    expected = []
    last_id = None
    for spec in specs:
        fields = [f"data: {d}" for d in spec["data_lines"]]
        if spec["event"] is not None:
            fields.append(f"event: {spec['event']}")
        if spec["id"] is not None:
            fields.append(f"id: {spec['id']}")
            last_id = spec["id"]
        if spec["retry"] is not None:
            fields.append(f"retry: {spec['retry']}")
        # Field order within an event must not matter, except that data lines
        # keep their relative order.
        order = draw(st.permutations(range(len(fields))))
        data_positions = sorted(i for i in order if i < len(spec["data_lines"]))
        it = iter(data_positions)
        order = [next(it) if i < len(spec["data_lines"]) else i for i in order]
        for i in order:
            add_comments()
            lines.append(fields[i])
        add_comments()
        lines.append("")
        expected.append(
            SSEEvent(
                event=spec["event"] or "message",
                data="\n".join(spec["data_lines"]),
                id=last_id,
                retry=spec["retry"],
                has_event_field=spec["event"] is not None,
            )
        )
    add_comments()

    text = "".join(line + eol for line in lines)
    bom = draw(st.booleans())
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    return raw, expected, comments


def _split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(raw)]
    return [raw[a:b] for a, b in zip(points, points[1:])]


@settings(deadline=None)
@given(st.data())
def test_property_chunking_does_not_matter(data) -> None:
    raw, expected, comments = data.draw(_streams())
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=20))

    whole, dec_whole = decode(raw)
    pieces, dec_pieces = decode(*_split(raw, cuts))

    assert whole == expected
    assert pieces == expected
    for dec in (dec_whole, dec_pieces):
        assert dec.comments == comments
        assert dec.invalid_utf8_lines == 0
        assert dec.pending_incomplete is False


@settings(deadline=None)
@given(st.data())
def test_property_prefix_yields_prefix_of_events(data) -> None:
    raw, expected, _ = data.draw(_streams())
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    events, _ = decode(raw[:cut])
    assert events == expected[: len(events)]


@settings(deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_property_arbitrary_bytes_chunking_invariant(raw: bytes, cuts: list[int]) -> None:
    cuts = [c for c in cuts if c <= len(raw)]
    whole, dec_whole = decode(raw)
    pieces, dec_pieces = decode(*_split(raw, cuts))
    assert whole == pieces
    assert dec_whole.comments == dec_pieces.comments
    assert dec_whole.invalid_utf8_lines == dec_pieces.invalid_utf8_lines
    assert dec_whole.pending_incomplete == dec_pieces.pending_incomplete
