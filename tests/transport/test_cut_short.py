"""`events_wanted`: the client hangs up after the events it needs, and that is no fault."""
from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from conformance.server.running import start_server
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Client

CHAT = load_contract(DEFAULT_CONTRACT).endpoints["chat_completions"]


async def endless(request: Request) -> StreamingResponse:
    async def frames():
        for i in range(10_000):  # about 100 s of answer, unless the client hangs up
            yield f'data: {{"choices":[{{"delta":{{"content":"w{i} "}}}}]}}\n\n'.encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(frames(), media_type="text/event-stream")


def test_a_stream_cut_after_its_first_event_is_accepted_and_not_a_fault() -> None:
    with start_server(Starlette(routes=[Route("/v1/chat/completions", endless, methods=["POST"])])) as server:
        async def go():
            async with Client(server.base_url, None) as client:
                return await asyncio.wait_for(client.send(CHAT, {"stream": True}, stream=True, events_wanted=1), 30)

        ex = asyncio.run(go())
        assert ex.status == 200 and ex.error is None and ex.cut_short and ex.fault is None
        assert len(ex.events) == 1 and ex.billed
