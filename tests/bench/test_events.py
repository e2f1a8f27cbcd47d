"""Event kinds and usage, on real streams of the reference server for all three protocols."""
from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from conformance.bench import events
from conformance.bench.bodies import chat_request
from conformance.bench.scenario import Distribution, Load, RequestSpec, Scenario
from conformance.bench.stubserver import frames as stub_frames
from conformance.protocols import wire_protocols
from conformance.server.app import create_app

ENDPOINTS = ("chat_completions", "responses", "messages")


def scenario(thinking: bool | None, tools: bool = False, stream: bool = True) -> Scenario:
    return Scenario("t", ENDPOINTS, stream, RequestSpec(Distribution("fixed", (40,)), Distribution("fixed", (12,)),
                                                        thinking=thinking, tools=tools),
                    Load("concurrency", (1.0,), 1.0), {}, "")


def reference_stream(contract, endpoint: str, thinking: bool | None, tools: bool = False,
                     stream: bool = True) -> tuple[list[bytes], bytes]:
    wire = wire_protocols(contract)[endpoint]
    request = chat_request(scenario(thinking, tools, stream), contract, endpoint, 40, 12, random.Random(3))
    body = wire.body(request)
    headers = {"authorization": "Bearer k", "x-api-key": "k", "anthropic-version": "2023-06-01"}

    async def go() -> bytes:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(contract)),
                                     base_url="http://ref") as client:
            r = await client.post(wire.protocol.path, json=body, headers=headers)
            assert r.status_code == 200, r.text
            return r.content
    raw = asyncio.run(go())
    frames = [f + b"\n\n" for f in raw.split(b"\n\n") if f.strip()]
    return frames, raw


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("thinking", [True, False])
def test_reference_streams_classify_and_count(contract, endpoint, thinking) -> None:
    frames, _ = reference_stream(contract, endpoint, thinking)
    kinds = events.classify(endpoint, frames)
    usage = events.stream_usage(endpoint, frames, kinds)
    assert kinds[-1] == "d" and kinds.count("d") == 1
    assert "e" not in kinds
    assert kinds.count("c") >= 1
    assert kinds[0] == "m"  # role / created / message_start: never a token
    assert ("t" in kinds) == thinking
    # Generated-token events are one per token: the server's usage agrees with the count.
    assert usage is not None and usage["output"] == kinds.count("c") + kinds.count("t")
    assert usage["input"] and usage["input"] > 0
    if thinking and endpoint != "messages":
        assert usage["reasoning"] == kinds.count("t")
    # reasoning comes before the answer
    assert kinds.rfind("t") < kinds.find("c")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_non_stream_usage(contract, endpoint) -> None:
    _, raw = reference_stream(contract, endpoint, thinking=False, stream=False)
    usage = events.body_usage(endpoint, raw)
    assert usage is not None and usage["output"] >= 1 and usage["input"] > 0


@pytest.mark.parametrize("endpoint, name", [("chat_completions", "chat"), ("responses", "responses"),
                                            ("messages", "messages")])
def test_stub_server_streams_classify(endpoint, name) -> None:
    frames, first = stub_frames(name, 5)
    kinds = events.classify(endpoint, list(frames))
    assert kinds.count("c") == 5 and kinds.index("c") == first and kinds.endswith("d")
    assert events.stream_usage(endpoint, list(frames), kinds)["output"] == 5
    # An id: line in front (the stub's --stamp) changes nothing.
    stamped = [b"id: 123\n" + f for f in frames]
    assert events.classify(endpoint, stamped) == kinds


@pytest.mark.parametrize("frame, kind", [
    (b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n', "m"),
    (b'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}\n\n', "m"),
    (b'data: {"choices": [{"delta": {"content": "x"}}]}\n\n', "c"),
    (b'data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}\n\n', "t"),
    (b'data: {"choices":[{"delta":{"reasoning":"hmm"}}]}\n\n', "t"),
    (b'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a"}}]}}]}\n\n', "f"),
    (b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n', "u"),
    (b'data: {"error":{"message":"overloaded"}}\n\n', "e"),
    (b"data: [DONE]\n\n", "d"),
])
def test_chat_frames(frame, kind) -> None:
    assert events.classify_chat(frame) == kind


def test_messages_tool_and_error_frames() -> None:
    tool = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"c"}}\n\n'
    err = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n'
    assert events.classify_messages(tool) == "f"
    assert events.classify_messages(err) == "e"


def test_tool_calls_are_generated_tokens(contract) -> None:
    frames, _ = reference_stream(contract, "chat_completions", thinking=False, tools=True)
    kinds = events.classify("chat_completions", frames)
    assert kinds.endswith("d")
    assert set(kinds) & set("cf")
