"""A lean HTTP/1.1 client for load generation: pre-built request bytes out, timed SSE events in.

The harness's `conformance.transport.client.Client` decodes every event as it arrives; at
thousands of streams per second that work would be the bottleneck and, worse, would delay the
timestamps of every other stream on the same event loop. This client does as little as it
can between a socket read and the next: one `perf_counter_ns()` per read, chunked-transfer
framing, and a split of the body on the blank line that ends an SSE event. Each event is kept
as `(arrival_ns, raw_bytes)`; what kind of event it was (role, reasoning, content, usage,
terminator) is decided after the request ends (`conformance.bench.events`).

It speaks keep-alive HTTP/1.1, one request per connection at a time, with TCP_NODELAY set. On
Linux over plain http each read is timed by the kernel's receive timestamp (SO_TIMESTAMPNS), so
when many streams' tokens land at once — as a batching server sends them — the ones the loop
reads last are still timed by when they arrived, not by when their turn came; elsewhere (and for
https, through an `ssl.SSLContext` over `asyncio.Protocol`) by the instant the loop hands the data
over. Every
request has a deadline (and, when given, first-byte and idle bounds); a timeout, a refused
connection or a server that hangs up mid-answer becomes an error kind on the result
(`conformance.errors`), never an exception. A 429 or 502-504 may be retried when asked
(`RequestPolicy`), and every retry is kept on the result.
"""
from __future__ import annotations

import asyncio
import socket
import ssl as _ssl
import struct
import sys
from time import perf_counter_ns, time_ns
from typing import Any

from conformance import errors
from conformance.transport.retry import RetryPolicy

__all__ = ["Pool", "RequestPolicy", "Result"]

_HEAD, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _LENGTH, _UNTIL_CLOSE, _IDLE = range(8)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024  # no chat answer is this large: a server sending more is broken


class RequestPolicy(float):
    """The per-request deadline in seconds (a float, as `WorkerSpec.timeout_s` is), carrying the
    finer request settings with it: connect, first-byte and idle timeouts, retries, TLS checks.

    A float so that it travels to the worker processes through the existing `timeout_s` field
    and every use of that field as a number keeps working.
    """

    connect_s: float
    first_byte_s: float | None
    idle_s: float | None
    retries: int
    verify_tls: bool

    def __new__(cls, total_s: float, *, connect_s: float = 10.0, first_byte_s: float | None = None,
                idle_s: float | None = None, retries: int = 0, verify_tls: bool = True) -> "RequestPolicy":
        self = super().__new__(cls, total_s)
        self.connect_s, self.first_byte_s, self.idle_s = connect_s, first_byte_s, idle_s
        self.retries, self.verify_tls = retries, verify_tls
        return self

    def __reduce__(self) -> tuple:
        return (_policy, (float(self), self.connect_s, self.first_byte_s, self.idle_s, self.retries, self.verify_tls))

    def describe(self) -> dict[str, Any]:
        return {"timeouts_s": {"connect": self.connect_s, "first_byte": self.first_byte_s, "idle": self.idle_s,
                               "total": float(self)},
                "retries": self.retries, "tls_verify": self.verify_tls}


def _policy(total_s: float, connect_s: float, first_byte_s: float | None, idle_s: float | None, retries: int,
            verify_tls: bool) -> RequestPolicy:
    return RequestPolicy(total_s, connect_s=connect_s, first_byte_s=first_byte_s, idle_s=idle_s,
                         retries=retries, verify_tls=verify_tls)


class Result:
    """One request's instants (perf_counter_ns; 0 where it never happened) and what came back."""

    __slots__ = ("sched", "start", "connected", "hdr", "end", "status", "error", "events", "body", "sse",
                 "content_type", "server_recv", "retry_after", "retries", "size")

    def __init__(self, sched: int) -> None:
        self.sched = sched
        self.start = 0
        self.connected = 0  # when a new connection was needed: the instant it was up
        self.hdr = 0
        self.end = 0
        self.status = 0
        self.error: str | None = None
        self.events: list[tuple[int, bytes]] = []
        self.body = bytearray()
        self.sse = False
        self.content_type = ""
        self.server_recv = 0  # the stub server's x-bench-recv-ns header (calibration), else 0
        self.retry_after: str | None = None  # the server's Retry-After header, as sent
        # Each attempt sent again: (status, error kind or "", seconds waited, Retry-After or None).
        self.retries: list[tuple[int, str, float, str | None]] = []
        self.size = 0  # body bytes received

    def again(self) -> None:
        """Forget the failed attempt's answer before it is sent again (the instants stay: the
        request's latency counts from its schedule, retries included)."""
        self.hdr = self.end = self.status = 0
        self.error = None
        self.events = []
        self.body = bytearray()
        self.sse, self.content_type, self.retry_after, self.size = False, "", None, 0


class _Conn(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.result: Result | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.state = _IDLE
        self.buf = bytearray()
        self.left = 0
        self.keep_alive = True
        self.sep = b"\n\n"
        self.pending = bytearray()  # SSE bytes after the last complete event
        self.last_read = 0  # when the last bytes came in (idle timeout)

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.result is not None:
            if self.state == _UNTIL_CLOSE:
                self._finish(perf_counter_ns())
            else:
                self._fail(errors.RESET if isinstance(exc, ConnectionResetError) else errors.DISCONNECTED)

    def data_received(self, data: bytes, now: int = 0) -> None:
        now = now or perf_counter_ns()
        self.last_read = now
        res = self.result
        if res is None:
            # Bytes nobody asked for: this connection can no longer be trusted.
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            return
        if self.state == _HEAD:
            self.buf += data
            at = self.buf.find(b"\r\n\r\n")
            if at < 0:
                if len(self.buf) > _MAX_HEAD:
                    self._fail("bad-response")
                return
            if not self._head(bytes(self.buf[:at]), now):
                return
            data = bytes(self.buf[at + 4:])
            self.buf.clear()
            if self.state == _IDLE:  # no body at all
                self._finish(now)
                return
        if self.state == _LENGTH:
            take = data[:self.left]
            self.left -= len(take)
            self._body(take, now)
            if self.left == 0:
                self._finish(now)
        elif self.state == _UNTIL_CLOSE:
            self._body(data, now)
        elif data:
            self._chunked(data, now)

    # -- framing
    def _head(self, head: bytes, now: int) -> bool:
        res = self.result
        assert res is not None
        lines = head.split(b"\r\n")
        try:
            version, code = lines[0].split(b" ", 2)[:2]
            res.status = int(code)
        except ValueError:
            self._fail("bad-response")
            return False
        res.hdr = now
        if 300 <= res.status < 400:
            res.error = errors.REDIRECT  # never followed: the key must not travel to another host
        chunked, length, self.keep_alive = False, -1, version == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    self._fail("bad-response")
                    return False
            elif name == b"content-type":
                res.content_type = value.strip().decode("latin-1").split(";")[0].strip().lower()
            elif name == b"retry-after":
                res.retry_after = value.strip().decode("latin-1")
            elif name == b"x-bench-recv-ns":
                try:
                    res.server_recv = int(value)
                except ValueError:
                    pass
            elif name == b"connection":
                v = value.strip().lower()
                self.keep_alive = v == b"keep-alive" or (self.keep_alive and v != b"close")
        res.sse = res.content_type == "text/event-stream"
        if chunked:
            self.state = _CHUNK_SIZE
        elif length >= 0:
            self.state, self.left = (_LENGTH, length) if length else (_IDLE, 0)
        else:
            self.state, self.keep_alive = _UNTIL_CLOSE, False
        return True

    def _chunked(self, data: bytes, now: int) -> None:
        buf = self.buf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        pos, n = 0, len(data)
        while pos < n:
            state = self.state
            if state == _CHUNK_DATA:
                end = pos + self.left
                piece = data[pos:end]
                self.left -= len(piece)
                pos += len(piece)
                self._body(piece, now)
                if self.left == 0:
                    self.state = _CHUNK_CRLF
            elif state == _CHUNK_SIZE:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    buf += data[pos:]
                    return
                try:
                    size = int(data[pos:eol].split(b";", 1)[0], 16)
                except ValueError:
                    self._fail("bad-response")
                    return
                pos = eol + 2
                if size == 0:
                    self.state = _TRAILER
                else:
                    self.state, self.left = _CHUNK_DATA, size
            elif state == _CHUNK_CRLF:
                if n - pos < 2:
                    buf += data[pos:]
                    return
                pos += 2
                self.state = _CHUNK_SIZE
            elif state == _TRAILER:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    buf += data[pos:]
                    return
                if eol == pos:  # the blank line that ends the trailers
                    self._finish(now)
                    return
                pos = eol + 2
            else:
                return

    def _body(self, piece: bytes, now: int) -> None:
        res = self.result
        if res is None or not piece:
            return
        res.size += len(piece)
        if res.size > _MAX_BODY:
            self._fail(errors.TOO_LARGE)
            return
        if not res.sse:
            res.body += piece
            return
        pending = self.pending
        if not pending:
            if not res.events and b"\r\n" in piece:
                self.sep = b"\r\n\r\n"
            # The common case: the server wrote exactly one whole event.
            if piece.endswith(self.sep) and piece.find(self.sep) == len(piece) - len(self.sep):
                res.events.append((now, piece))
                return
        pending += piece
        sep, width, start = self.sep, len(self.sep), 0
        while True:
            at = pending.find(sep, start)
            if at < 0:
                break
            res.events.append((now, bytes(pending[start:at + width])))
            start = at + width
        if start:
            del pending[:start]

    def _finish(self, now: int) -> None:
        res, waiter = self.result, self.waiter
        self.result = self.waiter = None
        self.state = _IDLE
        leftover = bool(self.pending.strip())
        self.pending.clear()
        self.buf.clear()
        if res is None:
            return
        res.end = now
        if leftover:  # the body ended in the middle of an event
            res.error = res.error or "incomplete"
        if not self.keep_alive or self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        else:
            self.pool._release(self)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, kind: str) -> None:
        res, waiter = self.result, self.waiter
        self.result = self.waiter = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if res is None:
            return
        res.error = res.error or kind
        res.end = perf_counter_ns()
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def send(self, wire: bytes, res: Result) -> asyncio.Future[None]:
        self.result = res
        self.state = _HEAD
        self.sep = b"\n\n"
        self.waiter = self.pool.loop.create_future()
        assert self.transport is not None
        self.transport.write(wire)
        return self.waiter


class _SocketTransport:
    """The few transport calls `_Conn` makes, over a raw socket read with kernel receive timestamps.

    Each read asks the kernel when the data arrived (SO_TIMESTAMPNS: the arrival of the newest
    segment in the read, on the realtime clock). The event then carries that instant, moved onto
    the monotonic clock by the realtime−monotonic offset read at the same moment — so a stream
    whose data waited in the socket while the loop served others is still timed by its arrival.
    Where the kernel gives no timestamp, the read's own instant is used.
    """

    def __init__(self, sock: socket.socket, conn: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.sock, self.conn, self.loop = sock, conn, loop
        self.fd = sock.fileno()
        self._closed = False
        self._backlog = bytearray()
        self.floor = 0  # no data can have arrived before this instant (see `arrival`)
        loop.add_reader(self.fd, self._readable)

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None

    def _readable(self) -> None:
        before = perf_counter_ns()
        try:
            data, anc, _, _ = self.sock.recvmsg(_READ_SIZE, _ANC_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        now = arrival(anc, perf_counter_ns(), self.floor)
        # Every read empties the socket, so what the next one returns arrived after this one began.
        self.floor = before
        self.conn.data_received(data, now)

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        self.floor = max(self.floor, perf_counter_ns())  # an answer arrives after its request left
        if self._backlog:  # keep the order: behind what is already waiting
            self._backlog += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        if sent < len(data):  # the socket buffer is full: the rest goes when it drains
            self._backlog += data[sent:]
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._backlog)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._backlog[:sent]
        if not self._backlog:
            self.loop.remove_writer(self.fd)

    def _lost(self, exc: Exception | None) -> None:
        if not self._closed:
            self.close()
            self.conn.connection_lost(exc)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.loop.remove_reader(self.fd)
        if self._backlog:
            self.loop.remove_writer(self.fd)
        self.sock.close()

    abort = close


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; absent from Python's socket module
_TIMESPEC = struct.Struct("qq")
_READ_SIZE = 256 * 1024
_ANC_SIZE = 64


def clock_offset() -> int:
    """realtime − monotonic (ns), read so that a preemption between the clock reads cannot skew it."""
    best_gap, offset = 1 << 62, 0
    for _ in range(3):
        a = perf_counter_ns()
        real = time_ns()
        b = perf_counter_ns()
        if b - a < best_gap:
            best_gap, offset = b - a, real - (a + b) // 2
            if best_gap < 2_000:
                break
    return offset


def arrival(anc: list[tuple[int, int, bytes]], now: int, floor: int) -> int:
    """The monotonic instant a read's data arrived: the kernel's realtime stamp moved onto the
    monotonic clock, never before `floor` (the start of the previous read, or the send) nor after
    `now` (when the read returned). The floor guards against a realtime clock stepped (a VM's
    clock sync) between arrival and read."""
    if anc:
        level, kind, raw = anc[0]
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(raw) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(raw)
            at = sec * 1_000_000_000 + nsec - clock_offset()
            return min(now, max(at, floor))
    return now


def kernel_timestamps_available() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        return True
    except OSError:
        return False


class Pool:
    """Keep-alive connections to one host; `request` never raises, it fills a `Result`.

    With `kernel_timestamps` (plain http on Linux) each read is timed by the kernel's arrival
    stamp; otherwise by the instant the event loop handed the data over. `timeout_s` is the
    per-request deadline; a `RequestPolicy` brings first-byte and idle bounds, retries and the
    TLS setting with it.
    """

    def __init__(self, host: str, port: int, *, tls: bool = False, timeout_s: float = 60.0,
                 connect_timeout_s: float = 10.0, kernel_timestamps: bool = True) -> None:
        policy = timeout_s if isinstance(timeout_s, RequestPolicy) else RequestPolicy(
            timeout_s, connect_s=connect_timeout_s)
        self.host, self.port = host, port
        self.ssl: _ssl.SSLContext | None = _tls_context(policy.verify_tls) if tls else None
        self.timeout_ns = int(float(policy) * 1e9)
        self.first_byte_s = policy.first_byte_s
        self.idle_ns = int(policy.idle_s * 1e9) if policy.idle_s else 0
        self.retry = RetryPolicy(retries=policy.retries)
        self.connect_timeout_s = policy.connect_s
        self.kernel_timestamps = kernel_timestamps and not tls and kernel_timestamps_available()
        self.idle: list[_Conn] = []
        self.opened = 0
        self.stale = 0  # requests sent again because their reused connection had been closed
        self.loop = asyncio.get_running_loop()
        self._addr: tuple[Any, ...] | None = None

    def _release(self, conn: _Conn) -> None:
        self.idle.append(conn)

    async def _connect(self) -> _Conn:
        conn = _Conn(self)
        if not self.kernel_timestamps:
            await asyncio.wait_for(self.loop.create_connection(lambda: conn, self.host, self.port, ssl=self.ssl),
                                   self.connect_timeout_s)
        else:
            if self._addr is None:
                infos = await self.loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                self._family, self._addr = infos[0][0], infos[0][4]
            sock = socket.socket(self._family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                await asyncio.wait_for(self.loop.sock_connect(sock, self._addr), self.connect_timeout_s)
            except BaseException:
                sock.close()
                raise
            conn.connection_made(_SocketTransport(sock, conn, self.loop))  # type: ignore[arg-type]
        self.opened += 1
        return conn

    async def request(self, wire: bytes, res: Result) -> Result:
        res.start = perf_counter_ns()
        while True:
            await self._attempt(wire, res)
            kind = res.error if res.error is not None else None
            if not self.retry.should_retry(len(res.retries), res.status or None, kind):
                return res
            wait = self.retry.delay(len(res.retries), res.retry_after)
            res.retries.append((res.status, str(kind or ""), round(wait, 3), res.retry_after))
            await asyncio.sleep(wait)
            res.again()

    async def _attempt(self, wire: bytes, res: Result, *, reuse: bool = True) -> None:
        conn = None
        while reuse and self.idle:
            candidate = self.idle.pop()
            if not candidate.closed:
                conn = candidate
                break
        reused = conn is not None
        if conn is None:
            try:
                conn = await self._connect()
            except asyncio.TimeoutError:
                res.error, res.end = errors.CONNECT_TIMEOUT, perf_counter_ns()
                return
            except OSError as exc:
                res.error, res.end = _connect_kind(exc), perf_counter_ns()
                return
            res.connected = res.connected or perf_counter_ns()
        waiter = conn.send(wire, res)
        conn.last_read = perf_counter_ns()
        # The total deadline counts from the first attempt: retries do not extend it.
        remaining = (res.start + self.timeout_ns - perf_counter_ns()) / 1e9
        timers = [self.loop.call_later(max(0.0, remaining), conn._fail, errors.TOTAL_TIMEOUT)]
        if self.first_byte_s is not None and self.first_byte_s < remaining:
            timers.append(self.loop.call_later(self.first_byte_s, self._first_byte_due, conn, res))
        if self.idle_ns:
            timers.append(self.loop.call_later(self.idle_ns / 1e9, self._idle_due, conn, res, timers))
        try:
            await waiter
        except asyncio.CancelledError:
            conn._fail("cancelled")
            raise
        finally:
            for timer in timers:
                timer.cancel()
        if reused and res.error in (errors.DISCONNECTED, errors.RESET) and not res.hdr and not res.size:
            # The server closed this idle keep-alive connection as the request went out (llama.cpp's
            # HTTP library does so after a streamed answer or a few requests): nothing was
            # answered, so the request goes again on a new connection, as HTTP clients do.
            self.stale += 1
            res.again()
            await self._attempt(wire, res, reuse=False)

    @staticmethod
    def _first_byte_due(conn: _Conn, res: Result) -> None:
        if conn.result is res and not res.hdr:
            conn._fail(errors.FIRST_BYTE_TIMEOUT)

    def _idle_due(self, conn: _Conn, res: Result, timers: list[asyncio.TimerHandle]) -> None:
        """Fires `idle` after the send; re-arms itself from the latest read instead of being reset on
        every read, which would cost a timer per read on the hot path."""
        if conn.result is not res:
            return
        quiet_ns = perf_counter_ns() - conn.last_read
        if quiet_ns >= self.idle_ns and (res.hdr or self.first_byte_s is None):
            conn._fail(errors.IDLE_TIMEOUT)
            return
        delay_ns = self.idle_ns - quiet_ns if quiet_ns < self.idle_ns else self.idle_ns
        timers.append(self.loop.call_later(max(0.001, delay_ns / 1e9), self._idle_due, conn, res, timers))

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


def _tls_context(verify: bool) -> _ssl.SSLContext:
    context = _ssl.create_default_context()
    if not verify:  # --insecure: said so in the report
        context.check_hostname = False
        context.verify_mode = _ssl.CERT_NONE
    return context


def _connect_kind(exc: OSError) -> errors.ErrorKind:
    if isinstance(exc, _ssl.SSLError):
        return errors.TLS
    if isinstance(exc, socket.gaierror):
        return errors.DNS
    if isinstance(exc, ConnectionRefusedError):
        return errors.CONNECT_REFUSED
    return errors.CONNECT_ERROR
