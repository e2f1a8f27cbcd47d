"""Serve an app over real HTTP from a background thread, on a free loopback port by default.

The socket is bound here, before uvicorn starts, so the port is known without racing
another process for it, and a failure to bind surfaces as an exception in the caller.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
# An idle kept-alive connection is closed by the server only after this. uvicorn's default (5 s)
# equals httpx's pool expiry, so a client could send a request on a connection the server was
# closing at that very moment and lose it to a reset (the soak saw ~4 in 1,000). Longer than the
# clients' expiry, the client always closes first.
KEEP_ALIVE_TIMEOUT_S = 30


class RunningServer:
    """A uvicorn server on its own thread and event loop; `.stop()` or use it as a context manager."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket, host: str, port: int):
        self._server = server
        self._thread = thread
        self._socket = sock
        self.host = host
        self.port = port
        self.error: BaseException | None = None  # set if the serving thread died

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            # Streams still open after the grace period: stop waiting for them.
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_S)
        self._socket.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def start_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving `app`; returns once uvicorn accepts connections (or raises RuntimeError)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this. Without it the body write waits ~40 ms behind the
    # header write on a kept-alive connection (Nagle against the client's delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, host=host, port=bound_port, log_level="warning", lifespan="off",
                            timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S)
    server = uvicorn.Server(config)
    running: RunningServer

    def serve() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller through `error`
            running.error = exc

    thread = threading.Thread(target=serve, name=f"reference-server:{bound_port}", daemon=True)
    running = RunningServer(server, thread, sock, host, bound_port)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            running.stop()
            reason = repr(running.error) if running.error else f"not started within {_START_TIMEOUT_S:.0f} s"
            raise RuntimeError(f"reference server failed to start on {host}:{bound_port}: {reason}")
        time.sleep(0.01)
    return running
