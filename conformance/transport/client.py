"""The one HTTP seam: an httpx client for the three endpoints, with per-request timings.

Every request yields an `Exchange`, success or not: transport failures become a typed
`TransportError` on the exchange, so a check can report them as findings instead of crashing.
Pass an `httpx.ASGITransport` to test against an in-process app with no socket at all.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from conformance.billing import Meter
from conformance.errors import TransportError
from conformance.secrets import Secret
from conformance.suite.model import Protocol
from conformance.transport.sse import SSEDecoder, SSEEvent

ANTHROPIC_VERSION = "2023-06-01"
_DEFAULT = object()


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 60.0  # also the longest gap allowed between two stream chunks
    total: float = 120.0


@dataclass
class Timings:
    """Monotonic `perf_counter_ns` instants of one request; None where it never happened."""

    sent_ns: int = 0
    headers_ns: int | None = None
    first_event_ns: int | None = None
    first_content_ns: int | None = None
    last_byte_ns: int | None = None

    def ms(self, instant: int | None) -> float | None:
        return None if instant is None else (instant - self.sent_ns) / 1e6

    def as_dict(self) -> dict[str, float | None]:
        return {
            "headers_ms": self.ms(self.headers_ns),
            "first_event_ms": self.ms(self.first_event_ns),
            "first_content_ms": self.ms(self.first_content_ns),
            "total_ms": self.ms(self.last_byte_ns),
        }


@dataclass(frozen=True)
class TimedEvent:
    at_ns: int
    event: SSEEvent


@dataclass(frozen=True)
class Sample:
    endpoint: str
    stream: bool
    status: int | None
    failed: bool
    timings: Timings


@dataclass
class Exchange:
    """One request and whatever came back."""

    endpoint: str
    url: str
    request_body: Any  # the JSON body sent, or the raw bytes for deliberately malformed bodies
    stream: bool
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[TimedEvent] = field(default_factory=list)
    sse_comments: int = 0
    sse_incomplete: bool = False
    sse_invalid_utf8_lines: int = 0
    timings: Timings = field(default_factory=Timings)
    error: TransportError | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def billed(self) -> bool:
        """A successful message, as the contract bills it: a complete 2xx answer."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The decoded body; raises ValueError with a short reason when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def try_json(self) -> Any | None:
        try:
            return self.json()
        except (ValueError, UnicodeDecodeError):
            return None


def endpoint_url(base_url: str, path: str) -> str:
    """Join a base URL that already ends in /v1 (as providers publish it) with a /v1/... path."""
    root = base_url.rstrip("/")
    if root.endswith("/v1") and path.startswith("/v1/"):
        return root + path[3:]
    return root + path


class Client:
    def __init__(self, base_url: str, api_key: Secret | None, *, transport: httpx.AsyncBaseTransport | None = None,
                 timeouts: Timeouts = Timeouts(), meter: Meter | None = None):
        self.base_url = base_url
        self.api_key = api_key
        self.timeouts = timeouts
        self.meter = meter
        # Every request's timings, for run-level figures such as latency percentiles.
        self.samples: list[Sample] = []
        if transport is None:
            # Without TCP_NODELAY a reused connection sends the body ~40 ms after the headers
            # (Nagle against delayed ACK): every timing would carry that stall.
            transport = httpx.AsyncHTTPTransport(
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], retries=0)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.connect),
            follow_redirects=False,  # a redirect must never carry the key to another host
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _headers(self, protocol: Protocol, key: Secret | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if protocol.family == "anthropic":
            headers["anthropic-version"] = ANTHROPIC_VERSION
        if key is not None:
            if protocol.auth_schemes[0] == "x-api-key":
                headers["x-api-key"] = key.reveal()
            else:
                headers["authorization"] = f"Bearer {key.reveal()}"
        return headers

    async def send(self, protocol: Protocol, body: Any, *, stream: bool = False, api_key: Any = _DEFAULT,
                   is_content: Callable[[SSEEvent], bool] | None = None) -> Exchange:
        """POST `body` (a JSON-able object, or raw bytes sent as is) to the protocol's endpoint.

        `api_key=None` sends no key at all, a `Secret` sends that one instead of the client's.
        `is_content` tells which stream events carry answer content, for the first-content instant.
        """
        key = self.api_key if api_key is _DEFAULT else api_key
        if self.meter is not None:
            self.meter.reserve()
        ex: Exchange | None = None
        try:
            ex = await self._send(protocol, body, stream, key, is_content)
        finally:
            if self.meter is not None:
                self.meter.settle(billed=ex is not None and ex.billed)
        self.samples.append(Sample(protocol.name, stream, ex.status, ex.error is not None, ex.timings))
        return ex

    async def _send(self, protocol: Protocol, body: Any, stream: bool, key: Secret | None,
                    is_content: Callable[[SSEEvent], bool] | None) -> Exchange:
        url = endpoint_url(self.base_url, protocol.path)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        ex = Exchange(endpoint=protocol.name, url=url, request_body=body, stream=stream)
        headers = self._headers(protocol, key)
        if stream:
            headers["accept"] = "text/event-stream"
        request = self._http.build_request(protocol.method, url, content=payload, headers=headers)
        deadline = time.perf_counter_ns() + int(self.timeouts.total * 1e9)
        ex.timings.sent_ns = time.perf_counter_ns()
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            ex.error = _transport_error(exc, self.timeouts)
            return ex
        try:
            ex.timings.headers_ns = time.perf_counter_ns()
            ex.status = response.status_code
            ex.headers = {k.lower(): v for k, v in response.headers.items()}
            is_sse = ex.content_type == "text/event-stream"
            decoder = SSEDecoder() if is_sse else None
            chunks: list[bytes] = []
            async for chunk in response.aiter_bytes():
                now = time.perf_counter_ns()
                if now > deadline:
                    raise TransportError("timeout", f"no complete answer within {self.timeouts.total:g}s")
                ex.timings.last_byte_ns = now
                if decoder is None:
                    chunks.append(chunk)
                    continue
                for event in decoder.feed(chunk):
                    self._record_event(ex, now, event, is_content)
            if decoder is not None:
                for event in decoder.flush():
                    self._record_event(ex, ex.timings.last_byte_ns or time.perf_counter_ns(), event, is_content)
                ex.sse_comments = decoder.comments
                ex.sse_incomplete = decoder.pending_incomplete
                ex.sse_invalid_utf8_lines = decoder.invalid_utf8_lines
            ex.body = b"".join(chunks)
            if ex.timings.last_byte_ns is None:
                ex.timings.last_byte_ns = time.perf_counter_ns()
        except TransportError as exc:
            ex.error = exc
        except httpx.HTTPError as exc:
            ex.error = _transport_error(exc, self.timeouts)
        finally:
            await response.aclose()
        return ex

    @staticmethod
    def _record_event(ex: Exchange, now: int, event: SSEEvent,
                      is_content: Callable[[SSEEvent], bool] | None) -> None:
        if ex.timings.first_event_ns is None:
            ex.timings.first_event_ns = now
        if ex.timings.first_content_ns is None and is_content is not None and is_content(event):
            ex.timings.first_content_ns = now
        ex.events.append(TimedEvent(now, event))


def _transport_error(exc: httpx.HTTPError, timeouts: Timeouts) -> TransportError:
    if isinstance(exc, httpx.ConnectTimeout):
        return TransportError("connect-timeout", f"no connection within {timeouts.connect:g}s")
    if isinstance(exc, httpx.TimeoutException):
        return TransportError("read-timeout", f"no data for {timeouts.read:g}s")
    if isinstance(exc, httpx.ConnectError):
        return TransportError("connect-error", f"cannot connect ({_first_line(exc)})")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError("protocol-error", _first_line(exc))
    return TransportError(type(exc).__name__, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
