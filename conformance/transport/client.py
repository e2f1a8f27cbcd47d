"""The one HTTP seam: an httpx client for the three endpoints, with per-request timings.

Every request yields an `Exchange`, success or not: transport failures become a typed
`TransportError` on the exchange, so a check can report them as findings instead of crashing.
Pass an `httpx.ASGITransport` to test against an in-process app with no socket at all.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import ssl
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import httpx

from conformance import errors
from conformance.billing import Meter
from conformance.errors import ErrorKind, TransportError
from conformance.secrets import Secret
from conformance.suite.model import Protocol
from conformance.transport.limiter import THROTTLE_STATUS, Limiter
from conformance.transport.retry import Retry, RetryPolicy
from conformance.transport.sse import SSEDecoder, SSEEvent

ANTHROPIC_VERSION = "2023-06-01"
MAX_BODY_BYTES = 8 * 1024 * 1024  # no chat answer is this large; a server sending more is broken
_DEFAULT = object()


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `first_byte` runs from the send to the response's status line (connecting
    included); `idle` bounds every silence after it (between two chunks of a stream); `total`
    is a hard deadline for the whole answer, so a stream that keeps trickling still ends."""

    connect: float = 10.0
    first_byte: float = 60.0
    idle: float = 60.0
    total: float = 120.0

    def replace(self, **values: float | None) -> "Timeouts":
        """These timeouts with every value that is not None replaced (CLI over profile over default)."""
        return dataclasses.replace(self, **{k: float(v) for k, v in values.items() if v is not None})

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClientSettings:
    """How a `Client` behaves when its caller does not say: set once per command (`using`)."""

    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    verify_tls: bool = True
    max_body_bytes: int = MAX_BODY_BYTES

    def describe(self) -> dict[str, Any]:
        return {"timeouts_s": self.timeouts.as_dict(), "retries": self.retry.retries,
                "retry_backoff_s": self.retry.base_s, "retry_max_wait_s": self.retry.cap_s,
                "tls_verify": self.verify_tls, "max_body_bytes": self.max_body_bytes}


_settings: ContextVar[ClientSettings] = ContextVar("conformance_client_settings", default=ClientSettings())
# What the current request is for (a check's result id), so the run's request log can say so.
request_label: ContextVar[str] = ContextVar("conformance_request_label", default="")


@contextmanager
def using(settings: ClientSettings) -> Iterator[ClientSettings]:
    """Clients created inside (and in tasks started inside) default to `settings`."""
    token = _settings.set(settings)
    try:
        yield settings
    finally:
        _settings.reset(token)


def current_settings() -> ClientSettings:
    return _settings.get()


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
    kind: str | None = None  # what went wrong, if anything (`Exchange.fault`)
    retries: tuple[Retry, ...] = ()
    label: str = ""  # what the request was for (a check's result id)


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
    cut_short: bool = False  # the client stopped reading after the events it wanted
    timings: Timings = field(default_factory=Timings)
    error: TransportError | None = None
    retries: list[Retry] = field(default_factory=list)  # failed attempts before this one
    fault: ErrorKind | None = None  # the error's kind, a 429/5xx, or a 2xx answer broken in transit

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
                 timeouts: Timeouts | None = None, meter: Meter | None = None, retry: RetryPolicy | None = None,
                 verify_tls: bool | None = None):
        settings = current_settings()
        self.base_url = base_url
        self.api_key = api_key
        self.timeouts = timeouts or settings.timeouts
        self.retry = retry or settings.retry
        self.max_body_bytes = settings.max_body_bytes
        self.meter = meter
        # Every request's timings, for run-level figures such as latency percentiles.
        self.samples: list[Sample] = []
        # The run's adaptive concurrency (set by the runner when it sends several at once).
        self.limiter: Limiter | None = None
        verify = settings.verify_tls if verify_tls is None else verify_tls
        if transport is None:
            # Without TCP_NODELAY a reused connection sends the body ~40 ms after the headers
            # (Nagle against delayed ACK): every timing would carry that stall.
            transport = httpx.AsyncHTTPTransport(
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], retries=0, verify=verify)
        t = self.timeouts
        self._http = httpx.AsyncClient(
            transport=transport,
            # The first-byte, idle and total bounds are enforced around each read (`_attempt`);
            # httpx's own read timeout is only a backstop.
            timeout=httpx.Timeout(connect=t.connect, read=t.total, write=t.first_byte, pool=t.connect),
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
                   is_content: Callable[[SSEEvent], bool] | None = None,
                   events_wanted: int | None = None) -> Exchange:
        """POST `body` (a JSON-able object, or raw bytes sent as is) to the protocol's endpoint.

        `events_wanted=N` stops reading a stream after its first N events and closes the
        connection (`Exchange.cut_short`): enough to see that a request was accepted without
        waiting for a long answer.

        `api_key=None` sends no key at all, a `Secret` sends that one instead of the client's.
        `is_content` tells which stream events carry answer content, for the first-content instant.
        A 429, a 502-504 or a connection that never carried the request is sent again up to
        `retry.retries` times; the exchange returned is the last attempt, with the others in
        `retries`. With a `limiter`, each attempt waits for its slot, and a 429 is sent again
        after the limiter's pause whatever `retry` says (`conformance.transport.limiter`).
        """
        key = self.api_key if api_key is _DEFAULT else api_key
        if self.meter is not None:
            self.meter.reserve()
        ex: Exchange | None = None
        retries: list[Retry] = []
        throttled = 0  # the 429s the limiter sent again: not counted against `retry.retries`
        try:
            while True:
                limiter = self.limiter
                epoch = await limiter.acquire() if limiter is not None else 0
                try:
                    ex = await self._attempt(protocol, body, stream, key, is_content, events_wanted)
                finally:
                    if limiter is not None:
                        limiter.release()
                ex.fault = fault_kind(ex, protocol)
                if limiter is not None and ex.status == THROTTLE_STATUS:
                    after = ex.headers.get("retry-after")
                    wait = limiter.throttled(epoch, protocol.name, request_label.get(), after,
                                             self.retry.delay(throttled, after), throttled)
                    if wait is not None:  # the limiter's gate holds this request (and all) that long
                        throttled += 1
                        retries.append(Retry(len(retries) + 1, ex.status, str(ex.fault), wait, after))
                        continue
                elif limiter is not None and ex.status is not None:
                    limiter.succeeded()
                failed_kind = ex.error.kind if ex.error else None
                if _stale(ex) and not any(r.kind == STALE_CONNECTION for r in retries):
                    # A kept-alive connection the server had already closed (llama.cpp's HTTP
                    # library closes them freely): it answered nothing, so send once more on a
                    # new connection, as browsers do, and record it.
                    retries.append(Retry(len(retries) + 1, None, STALE_CONNECTION, 0.0))
                    continue
                made = sum(r.kind != STALE_CONNECTION for r in retries) - throttled
                if not self.retry.should_retry(made, ex.status, failed_kind):
                    break
                wait = self.retry.delay(len(retries), ex.headers.get("retry-after"))
                retries.append(Retry(len(retries) + 1, ex.status, str(ex.fault or failed_kind or ""), wait,
                                     ex.headers.get("retry-after")))
                await asyncio.sleep(wait)
            ex.retries = retries
        finally:
            if self.meter is not None:
                self.meter.settle(billed=ex is not None and ex.billed)
        self.samples.append(Sample(protocol.name, stream, ex.status, ex.error is not None, ex.timings,
                                   ex.fault, tuple(retries), request_label.get()))
        return ex

    async def _attempt(self, protocol: Protocol, body: Any, stream: bool, key: Secret | None,
                       is_content: Callable[[SSEEvent], bool] | None, events_wanted: int | None = None) -> Exchange:
        url = endpoint_url(self.base_url, protocol.path)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        ex = Exchange(endpoint=protocol.name, url=url, request_body=body, stream=stream)
        headers = self._headers(protocol, key)
        if stream:
            headers["accept"] = "text/event-stream"
        t = self.timeouts
        request = self._http.build_request(protocol.method, url, content=payload, headers=headers)
        ex.timings.sent_ns = time.perf_counter_ns()
        deadline = time.monotonic() + t.total
        try:
            async with asyncio.timeout(min(t.first_byte, t.total)):
                response = await self._http.send(request, stream=True)
        except TimeoutError:
            ex.error = _timeout(t, headers_in=False, deadline=deadline)
            return ex
        except httpx.HTTPError as exc:
            ex.error = _transport_error(exc, t, headers_in=False)
            return ex
        try:
            ex.timings.headers_ns = time.perf_counter_ns()
            ex.status = response.status_code
            ex.headers = {k.lower(): v for k, v in response.headers.items()}
            if 300 <= response.status_code < 400:
                where = urlsplit(ex.headers.get("location", "")).netloc or "nowhere"
                raise TransportError(errors.REDIRECT, f"{response.status_code} to {where}, not followed "
                                                      "(the key goes to the target's host only)")
            is_sse = ex.content_type == "text/event-stream"
            decoder = SSEDecoder() if is_sse else None
            chunks: list[bytes] = []
            received = 0
            body_iter = response.aiter_bytes().__aiter__()
            while True:
                remaining = deadline - time.monotonic()
                try:
                    async with asyncio.timeout(max(0.0, min(t.idle, remaining))):
                        chunk = await body_iter.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise _timeout(t, headers_in=True, deadline=deadline) from None
                now = time.perf_counter_ns()
                ex.timings.last_byte_ns = now
                received += len(chunk)
                if received > self.max_body_bytes:
                    raise TransportError(errors.TOO_LARGE, f"the answer exceeds {self.max_body_bytes} bytes")
                if decoder is None:
                    chunks.append(chunk)
                    continue
                for event in decoder.feed(chunk):
                    self._record_event(ex, now, event, is_content)
                if events_wanted is not None and len(ex.events) >= events_wanted:
                    ex.cut_short = True
                    break
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
            ex.error = _transport_error(exc, t, headers_in=True)
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


# Ends a named-event stream as properly as its terminator does (a cut-short or failed answer).
_ALSO_FINAL = ("response.incomplete", "response.failed", "error")


def fault_kind(ex: Exchange, protocol: Protocol) -> ErrorKind | None:
    """What went wrong with an exchange, as the run counts it: a transport error, a 429 or 5xx,
    or a 2xx answer broken in transit (a stream without its terminator, bytes that are not
    UTF-8, data that is not JSON). Other 4xx are not counted: checks ask for them on purpose."""
    if ex.error is not None:
        return ex.error.kind
    status = ex.status or 0
    if status == 429 or status >= 500:
        return errors.http_kind(status)
    if not 200 <= status < 300:
        return None
    if ex.content_type != "text/event-stream":
        if not ex.stream and ex.body:
            try:
                json.loads(ex.body.decode("utf-8"))
            except UnicodeDecodeError:
                return errors.BAD_UTF8
            except ValueError:
                return errors.BAD_JSON
        return None
    if ex.sse_invalid_utf8_lines:
        return errors.BAD_UTF8
    terminator = protocol.stream_terminator
    done = False
    for timed in ex.events:
        event = timed.event
        if event.data.strip() == terminator or (event.has_event_field and event.event in (terminator, *_ALSO_FINAL)):
            done = True
            continue
        try:
            json.loads(event.data)
        except ValueError:
            return errors.BAD_JSON
    if ex.cut_short:  # the harness hung up on purpose: no terminator is owed
        return None
    return None if done and not ex.sse_incomplete else errors.INCOMPLETE


def _timeout(t: Timeouts, *, headers_in: bool, deadline: float) -> TransportError:
    if time.monotonic() >= deadline - 0.001:
        return TransportError(errors.TOTAL_TIMEOUT, f"no complete answer within {t.total:g}s")
    if headers_in:
        return TransportError(errors.IDLE_TIMEOUT, f"no data for {t.idle:g}s in the middle of the answer")
    return TransportError(errors.FIRST_BYTE_TIMEOUT, f"no response within {t.first_byte:g}s of sending")


STALE_CONNECTION = "stale-connection"


def _stale(ex: Exchange) -> bool:
    return (ex.error is not None and ex.status is None and ex.error.kind == errors.DISCONNECTED
            and "without sending a response" in str(ex.error))


def _transport_error(exc: httpx.HTTPError, t: Timeouts, *, headers_in: bool) -> TransportError:
    causes = _causes(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return TransportError(errors.CONNECT_TIMEOUT, f"no connection within {t.connect:g}s")
    if isinstance(exc, httpx.TimeoutException):
        kind = errors.IDLE_TIMEOUT if headers_in else errors.FIRST_BYTE_TIMEOUT
        return TransportError(kind, f"no data in time ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return TransportError(errors.TLS, f"TLS handshake failed ({_first_line(exc)})")
        if any(isinstance(c, socket.gaierror) for c in causes):
            return TransportError(errors.DNS, f"cannot resolve the host ({_first_line(exc)})")
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return TransportError(errors.CONNECT_REFUSED, "connection refused")
        return TransportError(errors.CONNECT_ERROR, f"cannot connect ({_first_line(exc)})")
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return TransportError(errors.RESET, "connection reset by the server")
    if isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError)) and (
            headers_in or "without sending" in str(exc) or isinstance(exc, httpx.ReadError)):
        return TransportError(errors.DISCONNECTED, f"the server closed the connection ({_first_line(exc)})")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(errors.PROTOCOL_ERROR, _first_line(exc))
    if isinstance(exc, httpx.DecodingError):
        return TransportError(errors.BAD_UTF8 if "utf" in str(exc).lower() else errors.PROTOCOL_ERROR,
                              _first_line(exc))
    return TransportError(type(exc).__name__, _first_line(exc))


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
