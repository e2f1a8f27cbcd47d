"""The chat-completions grammar, on hand-made bodies and streams: each rule can fail."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conformance.protocols.base import ChatRequest, Turn
from conformance.protocols.chat_completions import ChatCompletions
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Exchange, TimedEvent
from conformance.transport.sse import SSEEvent

CONTRACT = load_contract(DEFAULT_CONTRACT)
WIRE = ChatCompletions(CONTRACT.endpoints["chat_completions"], CONTRACT)

BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gemma-4-e4b",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop",
                 "logprobs": None}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **over: Any) -> dict[str, Any]:
    c = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gemma-4-e4b",
         "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}
    c.update(over)
    return c


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
GOOD_STREAM = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}), chunk({}, "stop"),
               chunk(choices=[], usage=USAGE), "[DONE]"]


def exchange(frames: list[Any], content_type: str = "text/event-stream", named: bool = False) -> Exchange:
    ex = Exchange("chat_completions", "http://x/v1/chat/completions", {}, True, status=200,
                  headers={"content-type": content_type})
    for i, f in enumerate(frames):
        data = f if isinstance(f, str) else json.dumps(f)
        ex.events.append(TimedEvent(i, SSEEvent(event="chunk" if named else "message", data=data,
                                                has_event_field=named)))
    return ex


def request(include_usage: bool = True) -> ChatRequest:
    return ChatRequest([Turn("user", "hi")], stream=True, include_usage=include_usage)


def test_good_body_and_stream_have_no_problems() -> None:
    assert WIRE.shape_problems(BODY) == []
    assert WIRE.stream_problems(exchange(GOOD_STREAM), request()) == []
    reply = WIRE.stream_reply(exchange(GOOD_STREAM))
    assert (reply.text, reply.finish_reason, reply.usage.total_tokens) == ("Hi", "stop", 7)


@pytest.mark.parametrize("path,value,expected", [
    (("object",), "chat.completions", "body.object"),
    (("choices", 0, "finish_reason"), None, "finish_reason"),
    (("choices", 0, "message", "role"), "user", "role"),
    (("choices", 0, "index"), 3, "index: expected 0"),
    (("usage", "total_tokens"), 8, "total_tokens: 8 != prompt_tokens"),
    (("id",), "cmpl-1", "prefix"),
    (("created",), "yesterday", "created"),
])
def test_each_body_rule_can_fail(path: tuple, value: Any, expected: str) -> None:
    body = copy.deepcopy(BODY)
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    problems = WIRE.shape_problems(body)
    assert any(expected in p for p in problems), problems


def test_missing_usage_is_a_problem() -> None:
    body = copy.deepcopy(BODY)
    del body["usage"]
    assert any("usage" in p for p in WIRE.shape_problems(body))


STREAM_BREAKS = {
    "no [DONE]": (GOOD_STREAM[:-1], True, "last event"),
    "two [DONE]": (GOOD_STREAM + ["[DONE]"], True, "more than once"),
    "no role": ([chunk({"content": ""})] + GOOD_STREAM[1:], True, "role 'assistant'"),
    "role repeated": (GOOD_STREAM[:1] + [chunk({"role": "assistant", "content": "Hi"})] + GOOD_STREAM[2:], True,
                      "role repeated"),
    "finish everywhere": ([chunk({"role": "assistant"}, "stop"), chunk({"content": "Hi"}, "stop")] + GOOD_STREAM[3:],
                          True, "exactly one non-null finish_reason"),
    "finish early": ([chunk({"role": "assistant"}, "stop"), chunk({"content": "Hi"})] + GOOD_STREAM[3:], True,
                     "last chunk"),
    "usage missing": (GOOD_STREAM[:3] + ["[DONE]"], True, "no chunk carries usage"),
    "usage unasked": (GOOD_STREAM, False, "without stream_options.include_usage"),
    "usage with choices": (GOOD_STREAM[:3] + [chunk({}, usage=USAGE)] + ["[DONE]"], True, "choices: []"),
    "id changes": (GOOD_STREAM[:1] + [chunk({"content": "Hi"}, id="chatcmpl-2")] + GOOD_STREAM[2:], True,
                   "id changed"),
    "created changes": (GOOD_STREAM[:1] + [chunk({"content": "Hi"}, created=2)] + GOOD_STREAM[2:], True,
                        "created changed"),
    "bad json": (GOOD_STREAM[:1] + ['{"id": '] + GOOD_STREAM[2:], True, "not JSON"),
    "wrong object": (GOOD_STREAM[:1] + [chunk({"content": "Hi"}, object="chat.completion")] + GOOD_STREAM[2:],
                     True, "object"),
}


@pytest.mark.parametrize("name", list(STREAM_BREAKS))
def test_each_stream_rule_can_fail(name: str) -> None:
    frames, include_usage, expected = STREAM_BREAKS[name]
    problems = WIRE.stream_problems(exchange(frames), request(include_usage))
    assert any(expected in p for p in problems), problems


def test_stream_content_type_and_event_lines() -> None:
    assert any("content-type" in p for p in WIRE.stream_problems(exchange(GOOD_STREAM, "application/json"), request()))
    assert any("event:" in p for p in WIRE.stream_problems(exchange(GOOD_STREAM, named=True), request()))


def test_body_maps_canonical_parameters_to_wire_names() -> None:
    body = WIRE.body(ChatRequest([Turn("user", "hi")], params={"max_tokens": 5, "stop": ["x"]},
                                 raw={"stream_options.include_usage": True}))
    assert body["max_tokens"] == 5 and body["stop"] == ["x"] and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gemma-4-e4b" and body["messages"] == [{"role": "user", "content": "hi"}]


def test_error_problems_name_the_parameter() -> None:
    ex = Exchange("chat_completions", "u", {}, False, status=400, headers={"content-type": "application/json"},
                  body=json.dumps({"error": {"message": "bad value", "type": "invalid_request_error",
                                             "param": None}}).encode())
    assert any("temperature" in p for p in WIRE.error_problems(ex, status=400, param="temperature"))
    ex.body = json.dumps({"error": {"message": "temperature: 3 is outside 0..2", "type": "invalid_request_error",
                                    "param": "temperature"}}).encode()
    assert WIRE.error_problems(ex, status=400, param="temperature") == []
    assert any("status" in p for p in WIRE.error_problems(ex, status=422, param="temperature"))


def test_the_official_sdk_judges_shape_too() -> None:
    assert WIRE.sdk_problems(BODY) == []
    broken = copy.deepcopy(BODY)
    broken["created"] = "yesterday"
    problems = WIRE.sdk_problems(broken)
    assert problems and "ChatCompletion: created" in problems[0]
