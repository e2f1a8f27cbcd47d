"""A connection closed before any answer (a stale keep-alive one) is sent again once, on record."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import STALE_CONNECTION, Client

CHAT = load_contract(DEFAULT_CONTRACT).endpoints["chat_completions"]
BODY = b'{"ok":true}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)


def serve(hang_ups: int) -> Iterator[str]:
    """A server that hangs up on the first `hang_ups` connections without a word, then answers."""
    loop = asyncio.new_event_loop()
    seen = {"connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        head = await reader.readuntil(b"\r\n\r\n")
        # Read the body too: a socket closed with unread bytes sends a reset, not a clean close,
        # and whether the body had arrived by then depends on scheduling (a busy machine).
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        if seen["connections"] > hang_ups:
            writer.write(ANSWER)
            await writer.drain()
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def send(base_url: str):
    async def go():
        async with Client(base_url, None) as client:
            return await client.send(CHAT, {"messages": []})
    return asyncio.run(go())


@pytest.mark.parametrize("hang_ups,answered", [(1, True), (2, False)])
def test_one_silent_hang_up_is_sent_again_two_are_a_finding(hang_ups: int, answered: bool) -> None:
    for base_url in serve(hang_ups):
        ex = send(base_url)
        assert [r.kind for r in ex.retries] == [STALE_CONNECTION]
        if answered:
            assert ex.status == 200 and ex.error is None and ex.json() == {"ok": True}
        else:
            assert ex.status is None and ex.error is not None and ex.error.kind == "disconnected"
