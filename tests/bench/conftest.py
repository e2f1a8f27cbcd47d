"""Bench test fixtures: servers on loopback in a background thread, each with its own event loop."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable, Iterator

import pytest


class LoopThread:
    """An event loop on a daemon thread; `start(coro_fn)` runs a server factory on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list[asyncio.AbstractServer] = []

    def call(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def serve(self, factory: Callable[[], Awaitable[asyncio.AbstractServer]]) -> str:
        server = self.call(factory())
        self.servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    def close(self) -> None:
        async def stop() -> None:
            for s in self.servers:
                s.close()
            # Streams still open keep their transports; abort them so the loop can stop.
            for task in asyncio.all_tasks():
                task.cancel()
        try:
            self.call(stop())
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def stub(loop_thread: LoopThread) -> Callable[..., str]:
    """`stub(ttft_ms=0, token_ms=0, stamp=False)` → base URL of a stub server on a thread."""
    from conformance.bench import stubserver

    def start(ttft_ms: float = 0, token_ms: float = 0, stamp: bool = False, yield_per_token: bool = False) -> str:
        return loop_thread.serve(lambda: stubserver.start("127.0.0.1", 0, ttft_ms, token_ms, stamp=stamp,
                                                          yield_per_token=yield_per_token))
    return start


def scripted_server(loop_thread: LoopThread, script: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                                               Awaitable[None]]) -> tuple[str, int]:
    """A raw TCP server that runs `script(reader, writer)` per connection; returns (host, port)."""
    async def factory() -> asyncio.AbstractServer:
        return await asyncio.start_server(script, "127.0.0.1", 0)
    url = loop_thread.serve(factory)
    return "127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])
