"""The client: per-request timings over real HTTP, typed transport errors, URL joining."""
from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from conformance.secrets import Secret
from conformance.server.running import start_server
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Client, Timeouts, endpoint_url

CHAT = load_contract(DEFAULT_CONTRACT).endpoints["chat_completions"]
MESSAGES = load_contract(DEFAULT_CONTRACT).endpoints["messages"]
DELAY_S = 0.05
seen_headers: list[dict[str, str]] = []


async def chat(request: Request) -> JSONResponse | StreamingResponse:
    seen_headers.append(dict(request.headers))
    body = await request.json()
    if body.get("hang"):
        await asyncio.sleep(5)
    if not body.get("stream"):
        return JSONResponse({"ok": True})

    async def frames():
        await asyncio.sleep(DELAY_S)
        yield b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'  # role only: not content
        await asyncio.sleep(DELAY_S)
        yield b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
        await asyncio.sleep(DELAY_S)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def server():
    with start_server(Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                                        Route("/v1/messages", chat, methods=["POST"])])) as running:
        yield running


def is_content(event) -> bool:
    return '"content"' in event.data


def test_stream_timings_are_ordered_and_see_the_delays(server) -> None:
    async def go():
        async with Client(server.base_url, None) as client:
            return await client.send(CHAT, {"stream": True}, stream=True, is_content=is_content)

    ex = asyncio.run(go())
    t = ex.timings
    assert ex.error is None and ex.status == 200 and len(ex.events) == 3
    assert t.sent_ns < t.headers_ns <= t.first_event_ns <= t.first_content_ns <= t.last_byte_ns
    # The role-only chunk is the first event but not the first content.
    assert t.first_content_ns - t.first_event_ns >= DELAY_S * 1e9 * 0.8
    assert t.first_event_ns - t.sent_ns >= DELAY_S * 1e9 * 0.8
    assert [e.at_ns for e in ex.events] == sorted(e.at_ns for e in ex.events)
    assert set(t.as_dict()) == {"headers_ms", "first_event_ms", "first_content_ms", "total_ms"}


def test_auth_headers_per_protocol(server) -> None:
    async def go():
        async with Client(server.base_url, Secret("k-123456", "test")) as client:
            await client.send(CHAT, {})
            await client.send(MESSAGES, {})
            await client.send(CHAT, {}, api_key=None)

    seen_headers.clear()
    asyncio.run(go())
    chat_h, messages_h, none_h = seen_headers
    assert chat_h["authorization"] == "Bearer k-123456"
    assert messages_h["authorization"] == "Bearer k-123456" and messages_h["anthropic-version"]
    assert "authorization" not in none_h and "x-api-key" not in none_h


def test_read_timeout_is_a_typed_error(server) -> None:
    async def go():
        async with Client(server.base_url, None, timeouts=Timeouts(connect=1, first_byte=0.2, idle=0.2, total=1)) as client:
            return await client.send(CHAT, {"hang": True})

    ex = asyncio.run(go())
    assert ex.error is not None and ex.error.kind == "first-byte-timeout"


def test_refused_connection_is_a_typed_error() -> None:
    async def go():
        async with Client("http://127.0.0.1:9/v1", None) as client:
            return await client.send(CHAT, {})

    ex = asyncio.run(go())
    assert ex.error is not None and ex.error.kind == "connect-refused" and ex.status is None


@pytest.mark.parametrize("base,path,url", [
    ("https://api.empiriolabs.ai/v1", "/v1/chat/completions", "https://api.empiriolabs.ai/v1/chat/completions"),
    ("https://api.empiriolabs.ai/v1/", "/v1/messages", "https://api.empiriolabs.ai/v1/messages"),
    ("http://127.0.0.1:8080", "/v1/responses", "http://127.0.0.1:8080/v1/responses"),
])
def test_endpoint_url(base: str, path: str, url: str) -> None:
    assert endpoint_url(base, path) == url
