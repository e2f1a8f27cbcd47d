"""The chaos server: HTTP/1.1 over asyncio streams on a loopback port, on its own thread.

Written at the socket level (not on a web framework) because its faults live below HTTP: a
reset in the middle of a chunk, a body shorter than its Content-Length, a connection that is
accepted and never answered. Each answer is first asked of an in-process reference app, so
every byte the fault does not touch is a plausible answer of the right protocol.
"""
from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import httpx

from conformance.chaos.faults import HUGE_BYTES, Fault, corrupt_json, corrupt_utf8, error_body
from conformance.suite.model import Contract

UNRESOLVABLE_URL = "http://conformance-chaos.invalid/v1"  # RFC 6761: .invalid never resolves
_MAX_HEAD = 64 * 1024
_START_TIMEOUT_S = 10.0
_REASONS = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names lower-case)."""

    number: int
    method: str
    path: str
    headers: dict[str, str]
    faulty: bool

    @property
    def carried_key(self) -> bool:
        return "authorization" in self.headers or "x-api-key" in self.headers


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False, default=b"")


def closed_port_url() -> str:
    """A base URL on a loopback port nothing listens on: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class ChaosServer:
    """Use as a context manager: `with ChaosServer(Fault("reset", skip=1)) as chaos: chaos.base_url`."""

    def __init__(self, fault: Fault | str = "none", *, tls: bool = False, contract: Contract | None = None):
        self.fault = fault if isinstance(fault, Fault) else Fault(fault)
        self.tls = tls
        self.seen: list[Seen] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._contract = contract
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-server", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reference: httpx.AsyncClient | None = None

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    # -- lifecycle
    def start(self) -> ChaosServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(_START_TIMEOUT_S)
        return self

    async def _start(self) -> None:
        from conformance.server.app import create_app
        from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

        contract = self._contract or load_contract(DEFAULT_CONTRACT)
        app = create_app(contract, api_key=None)  # any key: the chaos server is not what is tested
        self._reference = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reference")
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, self.host, 0,
                                                  ssl=_self_signed_context() if self.tls else None)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(_START_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_START_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()

    async def _shutdown(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._reference is not None:
            await self._reference.aclose()

    def __enter__(self) -> ChaosServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- serving
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                number = len(self.seen) + 1
                faulty = self.fault.applies(number)
                self.seen.append(Seen(number, request.method, request.path, request.headers, faulty))
                if not await self._answer(request, writer, faulty):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError,
                asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _answer(self, request: _Request, writer: asyncio.StreamWriter, faulty: bool) -> bool:
        """Write one answer; False when the connection is finished."""
        mode = self.fault.mode if faulty else "none"
        family = "anthropic" if request.path.endswith("/messages") else "openai"
        if mode == "slow_loris":
            assert self._stopping is not None
            await self._stopping.wait()
            return False
        if mode in ("http_429", "http_503"):
            status = 429 if mode == "http_429" else 503
            writer.write(_head(status, {"content-type": "application/json", "retry-after": self.fault.retry_after},
                               error_body(family, status)))
            await writer.drain()
            return True
        if mode == "redirect":
            where = (self.fault.redirect_to or "http://127.0.0.1:9").rstrip("/") + request.path
            writer.write(_head(307, {"location": where, "content-type": "text/plain"}, b"moved"))
            await writer.drain()
            return True
        status, content_type, body = await self._reference_answer(request)
        stream = content_type.startswith("text/event-stream")
        if mode in ("stall", "trickle", "huge") or (stream and mode != "none"):
            return await self._stream(writer, mode, status, content_type, body, stream)
        if mode == "bad_json":
            body = corrupt_json(body)
        elif mode == "bad_utf8":
            body = corrupt_utf8(body)
        if mode in ("reset", "truncate"):
            writer.write(_head(status, {"content-type": content_type}, b"", length=len(body)) + body[:len(body) // 2])
            await writer.drain()
            _close(writer, reset=mode == "reset")
            return False
        writer.write(_head(status, {"content-type": content_type}, body))
        await writer.drain()
        return True

    async def _stream(self, writer: asyncio.StreamWriter, mode: str, status: int, content_type: str,
                      body: bytes, stream: bool) -> bool:
        """A chunked answer, one event per chunk, with the fault applied to the events."""
        if mode == "huge":
            piece = b"x" * (1024 * 1024)
            head = b'data: {"padding":"' if stream else b'{"padding":"'
            writer.write(_head(status, {"content-type": content_type}, b"", length=HUGE_BYTES))
            writer.write(head)
            sent = len(head)
            while sent < HUGE_BYTES - 8:
                chunk = piece[:HUGE_BYTES - 8 - sent]
                writer.write(chunk)
                sent += len(chunk)
                await writer.drain()
            writer.write(b'"}\n\n'[:HUGE_BYTES - sent].ljust(HUGE_BYTES - sent, b" "))
            await writer.drain()
            return True
        writer.write(_head(status, {"content-type": "text/event-stream", "cache-control": "no-cache"}, None))
        await writer.drain()
        if mode in ("stall", "trickle"):
            assert self._stopping is not None
            while not self._stopping.is_set():
                if mode == "trickle":
                    writer.write(_chunk(b": still thinking\n\n"))
                    await writer.drain()
                try:
                    await asyncio.wait_for(self._stopping.wait(), 0.05)
                except TimeoutError:
                    pass
            return False
        events = _events(body)
        if mode == "reset":
            for event in events[:max(1, len(events) // 2)]:
                writer.write(_chunk(event))
            await writer.drain()
            _close(writer, reset=True)
            return False
        if mode == "truncate":
            events = events[:-1]  # the terminator is the last event on all three protocols
        elif mode in ("bad_json", "bad_utf8") and events:
            target = min(1, len(events) - 1)
            events[target] = (corrupt_json if mode == "bad_json" else corrupt_utf8)(events[target])
        for event in events:
            writer.write(_chunk(event))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _reference_answer(self, request: _Request) -> tuple[int, str, bytes]:
        assert self._reference is not None
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length", "connection")}
        response = await self._reference.request(request.method, request.path, content=request.body,
                                                 headers=headers)
        return response.status_code, response.headers.get("content-type", "application/json"), response.content


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    if len(head) > _MAX_HEAD:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return _Request(method, path, headers, body)


def _head(status: int, headers: dict[str, str], body: bytes | None, *, length: int | None = None) -> bytes:
    """Status line and headers; a body given is appended with its Content-Length, None means chunked."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is None:
        lines.append("transfer-encoding: chunked")
    else:
        lines.append(f"content-length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _events(body: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in body.replace(b"\r\n", b"\n").split(b"\n\n") if part.strip()]


def _close(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    sock = writer.get_extra_info("socket")
    if reset and sock is not None:
        # SO_LINGER 0: close() sends RST instead of FIN, as a crashed or killed server's kernel does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()


@lru_cache(maxsize=1)
def _self_signed_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate, which no client trusts by default."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the TLS chaos listener needs the openssl command to make its certificate")
    folder = Path(tempfile.mkdtemp(prefix="conformance-chaos-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
