"""A lean stand-in server for measuring the benchmark client itself.

The reference server (Starlette under uvicorn) is the contract's stand-in, not a fast server: on
this machine it saturates long before the client does, so the client's ceiling is measured
against this one instead. It speaks just enough HTTP/1.1 (keep-alive, Content-Length request
bodies, chunked answers) on raw asyncio (uvloop when installed) and answers the three
endpoints with fixed, well-formed streams of N tokens (N from the request's max_tokens /
max_output_tokens, default 16): one role chunk, N content chunks, the finish and usage
chunks, then the terminator — or a non-stream body when the request does not ask to stream.

Known delays (``--latency "ttft=100,token=20"``) are laid on an absolute schedule from the
instant the request arrived (its kernel receive stamp): token k is due at arrival + ttft +
k·token, so lateness never accumulates, and each deadline is met by `Deadlines`, which sleeps
the last stretch precisely instead of trusting the event loop's millisecond timers. With ``--stamp`` the server reports when things really happened, on the
same monotonic clock as the client (`perf_counter_ns` is system-wide on Linux): the header
``x-bench-recv-ns`` carries the request's arrival, and each event an ``id:`` line with the
instant it was written. Calibration uses these to split the measured TTFT and ITL into the
server's real delay and the client's own error.

Run: ``python -m conformance.bench.stubserver --port 8001 [--latency SPEC] [--stamp]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import sys
from functools import lru_cache
from time import perf_counter_ns

from conformance.bench.deadlines import Deadline, Deadlines, tighten_timer_slack
from conformance.bench.httpclient import _SO_TIMESTAMPNS, _SocketTransport, kernel_timestamps_available

_MAX_TOKENS = re.compile(rb'"max(?:_output)?_tokens"\s*:\s*(\d+)')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_MAX_REQUEST = 16 * 1024 * 1024
_WORDS = [" sea", " wave", " light", " stone", " wind", " tide", " moon", " song"]


def _frame(data: object, event: str | None = None) -> bytes:
    text = json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "").encode() + b"data: " + text.encode() + b"\n\n"


@lru_cache(maxsize=64)
def frames(endpoint: str, n: int) -> tuple[tuple[bytes, ...], int]:
    """The SSE events of an answer of `n` tokens, and the index of the first token event."""
    words = [_WORDS[i % len(_WORDS)] for i in range(n)]
    if endpoint == "chat":
        base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": "stub"}

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            return _frame({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        out = [chunk({"role": "assistant", "content": ""})]
        out += [chunk({"content": w}) for w in words]
        out.append(chunk({}, "length"))
        out.append(_frame({**base, "choices": [], "usage": {"prompt_tokens": 16, "completion_tokens": n,
                                                            "total_tokens": 16 + n}}))
        out.append(b"data: [DONE]\n\n")
        return tuple(out), 1
    if endpoint == "responses":
        resp = {"id": "resp_stub", "object": "response", "status": "in_progress", "model": "stub", "output": []}
        out = [_frame({"type": "response.created", "response": resp}, "response.created")]
        out += [_frame({"type": "response.output_text.delta", "item_id": "msg_stub", "output_index": 0,
                        "content_index": 0, "delta": w}, "response.output_text.delta") for w in words]
        done = {**resp, "status": "completed",
                "usage": {"input_tokens": 16, "output_tokens": n, "total_tokens": 16 + n}}
        out.append(_frame({"type": "response.completed", "response": done}, "response.completed"))
        return tuple(out), 1
    msg = {"id": "msg_stub", "type": "message", "role": "assistant", "content": [], "model": "stub",
           "stop_reason": None, "usage": {"input_tokens": 16, "output_tokens": 1}}
    out = [_frame({"type": "message_start", "message": msg}, "message_start"),
           _frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                  "content_block_start")]
    out += [_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
                   "content_block_delta") for w in words]
    out.append(_frame({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    out.append(_frame({"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
                       "usage": {"output_tokens": n}}, "message_delta"))
    out.append(_frame({"type": "message_stop"}, "message_stop"))
    return tuple(out), 2


def body(endpoint: str, n: int) -> bytes:
    text = "".join(_WORDS[i % len(_WORDS)] for i in range(n))
    if endpoint == "chat":
        obj: dict = {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "stub",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "length"}],
                     "usage": {"prompt_tokens": 16, "completion_tokens": n, "total_tokens": 16 + n}}
    elif endpoint == "responses":
        obj = {"id": "resp_stub", "object": "response", "status": "completed", "model": "stub",
               "output": [{"type": "message", "role": "assistant",
                           "content": [{"type": "output_text", "text": text}]}],
               "usage": {"input_tokens": 16, "output_tokens": n, "total_tokens": 16 + n}}
    else:
        obj = {"id": "msg_stub", "type": "message", "role": "assistant", "model": "stub",
               "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens",
               "usage": {"input_tokens": 16, "output_tokens": n}}
    return json.dumps(obj, separators=(",", ":")).encode()


def _endpoint(path: bytes) -> str | None:
    if path.endswith(b"/chat/completions"):
        return "chat"
    if path.endswith(b"/responses"):
        return "responses"
    if path.endswith(b"/messages"):
        return "messages"
    return None


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Server(asyncio.Protocol):
    def __init__(self, ttft_ns: int, token_ns: int, stamp: bool, yield_per_token: bool, clock: Deadlines) -> None:
        self.ttft_ns, self.token_ns, self.stamp, self.yield_per_token = ttft_ns, token_ns, stamp, yield_per_token
        self.clock = clock
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.loop = asyncio.get_running_loop()
        self.handle: asyncio.Handle | Deadline | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.transport = None

    def data_received(self, data: bytes, now: int = 0) -> None:
        recv = now or perf_counter_ns()
        self.buf += data
        if len(self.buf) > _MAX_REQUEST:
            self._reply(413, b"request too large", close=True)
            return
        while not self.busy:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buf[:head_end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            total = head_end + 4 + length
            if len(self.buf) < total:
                return
            request_body = bytes(self.buf[head_end + 4:total])
            del self.buf[:total]
            self._handle(head, request_body, recv)

    def _reply(self, status: int, text: bytes, *, close: bool = False) -> None:
        if self.transport is None:
            return
        reason = {404: b"Not Found", 405: b"Method Not Allowed", 413: b"Payload Too Large"}.get(status, b"Error")
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n%s\r\n%s" % (
            status, reason, len(text), b"connection: close\r\n" if close else b"", text))
        if close:
            self.transport.close()

    def _handle(self, head: bytes, request_body: bytes, recv: int) -> None:
        request_line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(request_line) < 2:
            self._reply(400, b"bad request", close=True)
            return
        method, path = request_line[0], request_line[1]
        endpoint = _endpoint(path)
        if endpoint is None:
            self._reply(404, b"no such endpoint")
            return
        if method != b"POST":
            self._reply(405, b"POST only")
            return
        m = _MAX_TOKENS.search(request_body)
        n = max(1, min(int(m.group(1)), 65536)) if m else 16
        extra = b"x-bench-recv-ns: %d\r\n" % recv if self.stamp else b""
        assert self.transport is not None
        if not _STREAM.search(request_body):
            payload = body(endpoint, n)
            delay = self.ttft_ns + max(0, n - 1) * self.token_ns
            head_out = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
                        % (len(payload), extra))
            if delay:
                self.handle = self.clock.at(recv + delay, self._write, head_out + payload)
            else:
                self.transport.write(head_out + payload)
            return
        events, first = frames(endpoint, n)
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                             b"transfer-encoding: chunked\r\n%s\r\n" % extra)
        # Events before the first token go with it, the closing events with the last token; each
        # token in between is due on its own instant. One callback chain keeps them in order.
        groups: list[tuple[int, list[bytes]]] = []
        for k, event in enumerate(events):
            step = min(max(0, k - first), n - 1)
            due = recv + self.ttft_ns + step * self.token_ns
            if groups and groups[-1][0] == due and not self.yield_per_token:
                groups[-1][1].append(event)
            else:
                groups.append((due, [event]))
        self.busy = True
        delay = groups[0][0] - perf_counter_ns()
        if delay > 0:
            self.handle = self.clock.at(groups[0][0], self._group, groups, 0)
        else:
            self._group(groups, 0)

    def _group(self, groups: list[tuple[int, list[bytes]]], i: int) -> None:
        """Send group i and whatever is already due after it; schedule the rest."""
        while True:
            if self.transport is None:
                return
            early = groups[i][0] - perf_counter_ns()
            if early > 0:  # not yet due (cannot happen with `Deadlines`, but cheap to be sure of)
                self.handle = self.clock.at(groups[i][0], self._group, groups, i)
                return
            for event in groups[i][1]:
                self._send_event(event)
            i += 1
            if i == len(groups):
                self._end_stream()
                return
            delay = groups[i][0] - perf_counter_ns()
            if delay > 0:
                self.handle = self.clock.at(groups[i][0], self._group, groups, i)
                return
            if self.yield_per_token:
                self.handle = self.loop.call_soon(self._group, groups, i)
                return

    def _send_event(self, event: bytes) -> None:
        if self.transport is None:
            return
        if self.stamp:
            event = b"id: %d\n" % perf_counter_ns() + event
        self.transport.write(_chunk(event))

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _end_stream(self) -> None:
        self.busy = False
        self.handle = None
        self._write(b"0\r\n\r\n")
        if self.buf:  # a pipelined request waited for this answer
            self.data_received(b"")


async def start(host: str = "127.0.0.1", port: int = 0, ttft_ms: float = 0, token_ms: float = 0, *,
                stamp: bool = False, yield_per_token: bool = False,
                kernel_timestamps: bool = True) -> asyncio.AbstractServer:
    """Listen on the running loop; the caller closes the returned server.

    With kernel timestamps (Linux) a request's arrival is the kernel's receive stamp of its
    bytes, so the delays count from when the request reached this machine's socket, however
    busy this loop was then — the way the benchmark client times what it receives.
    """
    loop = asyncio.get_running_loop()
    clock = Deadlines(loop)

    def factory() -> _Server:
        return _Server(int(ttft_ms * 1e6), int(token_ms * 1e6), stamp, yield_per_token, clock)
    if not (kernel_timestamps and kernel_timestamps_available()):
        return await loop.create_server(factory, host, port, reuse_address=True, backlog=4096)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)

    def accept() -> None:
        for _ in range(64):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            proto = factory()
            proto.connection_made(_SocketTransport(conn, proto, loop))  # type: ignore[arg-type]

    loop.add_reader(sock.fileno(), accept)
    return _RawServer(sock, loop)


class _RawServer(asyncio.AbstractServer):
    """Just enough of `asyncio.AbstractServer` for `start`'s callers: sockets, close, async with."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock, self._loop = sock, loop
        self.sockets = [sock]

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    async def wait_closed(self) -> None:
        return None

    async def __aenter__(self) -> "_RawServer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def serve(host: str, port: int, ttft_ms: float = 0, token_ms: float = 0, *, stamp: bool = False,
                yield_per_token: bool = False) -> None:
    loop = asyncio.get_running_loop()
    server = await start(host, port, ttft_ms, token_ms, stamp=stamp, yield_per_token=yield_per_token)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    print(f"stub server on http://{host}:{server.sockets[0].getsockname()[1]}/v1", file=sys.stderr, flush=True)
    async with server:
        await stop.wait()


def realtime_scheduling() -> bool:
    """This process at the lowest real-time priority (Linux, CAP_SYS_NICE): woken on time however busy the
    machine is. It sleeps between deadlines, and the kernel caps real-time tasks at 95 % of a CPU anyway."""
    try:
        import os

        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(os.sched_get_priority_min(os.SCHED_RR)))
        return True
    except (AttributeError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.bench.stubserver", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency", default="", help='known delays, e.g. "ttft=100,token=20" (milliseconds)')
    parser.add_argument("--stamp", action="store_true", help="report arrival and write instants (calibration)")
    parser.add_argument("--yield-per-token", action="store_true",
                        help="one event-loop turn per event even without delays (as the reference server does)")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--realtime", action="store_true",
                        help="run at the lowest real-time priority (SCHED_RR 1), so a busy machine does not make "
                             "the known delays late (calibration); the stub sleeps between events")
    args = parser.parse_args(argv)
    from conformance.server.latency import LatencyModel

    model = LatencyModel.parse(args.latency)
    tighten_timer_slack()
    if args.realtime and not realtime_scheduling():
        print("stub server: real-time scheduling refused (needs CAP_SYS_NICE); running at normal priority",
              file=sys.stderr, flush=True)
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    if not args.no_uvloop:
        try:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
    try:
        asyncio.run(serve(args.host, args.port, model.ttft_ms, model.per_token_ms, stamp=args.stamp,
                          yield_per_token=args.yield_per_token))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
