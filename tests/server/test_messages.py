"""POST /v1/messages on the reference server, judged by the client-side Messages grammar."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from conformance.protocols.base import ChatRequest, Turn
from conformance.protocols.messages import Messages
from conformance.protocols.responses import Responses
from conformance.server import Faults, create_app
from conformance.server.images import IMAGE_TOKENS
from conformance.server.messages import sign_thinking
from conformance.server.tokens import count_prompt_tokens
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Exchange

from .bodies import image_base64
from .test_responses import send, stable

CONTRACT = load_contract(DEFAULT_CONTRACT)
WIRE = Messages(CONTRACT.endpoints["messages"], CONTRACT)
PROMPT = "Write a haiku about the ocean."
STREAMED = ChatRequest([Turn("user", PROMPT)], stream=True)


@pytest.fixture(scope="module")
def app():
    return create_app(CONTRACT)


def body(**fields: Any) -> dict[str, Any]:
    return {"model": CONTRACT.model, "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}], **fields}


def create(app: Any, **fields: Any) -> Exchange:
    return send(app, "messages", body(**fields))


def stream(app: Any, **fields: Any) -> Exchange:
    ex = send(app, "messages", body(stream=True, **fields), stream=True)
    assert ex.status == 200, ex.body
    return ex


def events_of(ex: Exchange) -> list[dict[str, Any]]:
    return [json.loads(t.event.data) for t in ex.events]


def raw(app: Any, method: str, path: str, headers: dict[str, str], json_body: Any = None) -> httpx.Response:
    """A request with exactly these headers (the harness client always adds its own auth)."""
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ref") as client:
            return await client.request(method, path, json=json_body, headers=headers)

    return asyncio.run(go())


# --------------------------------------------------------------------------- non-stream


def test_non_stream_message(app):
    ex = create(app, seed=1)
    assert ex.status == 200 and ex.content_type == "application/json"
    m = ex.json()
    assert WIRE.shape_problems(m) == []
    assert m["id"].startswith("msg_") and m["type"] == "message" and m["role"] == "assistant"
    assert m["model"] == CONTRACT.model and m["stop_reason"] == "end_turn" and m["stop_sequence"] is None
    thinking, text = m["content"]  # thinking is on by default
    assert thinking["type"] == "thinking" and thinking["thinking"]
    assert thinking["signature"] == sign_thinking(thinking["thinking"])
    assert text["type"] == "text" and text["text"]
    usage = m["usage"]
    assert usage["input_tokens"] == count_prompt_tokens([PROMPT])
    thinking_tokens = usage["output_tokens_details"]["thinking_tokens"]
    assert 0 < thinking_tokens < usage["output_tokens"]  # thinking is billed as output


def test_system_string_or_blocks_and_image(app):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image_base64()}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe this."}, image]},
                {"role": "assistant", "content": "A dot."}, {"role": "user", "content": "Shorter."}]
    a = create(app, seed=2, system="Be brief.", messages=messages).json()
    b = create(app, seed=2, system=[{"type": "text", "text": "Be brief."}], messages=messages).json()
    assert WIRE.shape_problems(a) == [] and stable(a) == stable(b)
    assert a["usage"]["input_tokens"] == count_prompt_tokens(["Be brief.", "Describe this.", "A dot.", "Shorter."],
                                                             IMAGE_TOKENS)


def test_stop_reasons(app):
    full = WIRE.reply(create(app, seed=3).json()).text
    word = " " + full.split()[3]
    m = create(app, seed=3, stop_sequences=[word, "zzz"]).json()
    assert WIRE.shape_problems(m) == []
    assert (m["stop_reason"], m["stop_sequence"]) == ("stop_sequence", word)
    assert WIRE.reply(m).text == full[: full.index(word)]
    m = create(app, seed=3, max_tokens=4).json()
    assert (m["stop_reason"], m["stop_sequence"]) == ("max_tokens", None) and WIRE.shape_problems(m) == []
    assert m["usage"]["output_tokens"] == 4 + m["usage"]["output_tokens_details"]["thinking_tokens"]


@pytest.mark.parametrize("fields", [{"enable_thinking": False}, {"reasoning_effort": "low"}])
def test_thinking_off(app, fields):
    m = create(app, seed=1, **fields).json()
    assert [b["type"] for b in m["content"]] == ["text"]
    assert m["usage"]["output_tokens_details"]["thinking_tokens"] == 0
    events = events_of(stream(app, seed=1, **fields))
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == ["text"]


def test_replayed_thinking_must_keep_its_signature(app):
    first = create(app, seed=4).json()
    turns = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": first["content"]},
             {"role": "user", "content": "Again."}]
    assert create(app, seed=4, messages=turns).status == 200
    turns[1]["content"][0]["thinking"] += " (edited)"
    ex = create(app, seed=4, messages=turns)
    assert WIRE.error_problems(ex, status=400, param="messages[1].content[0].signature") == []


def test_seed_determinism(app):
    a, b, c = (create(app, seed=s).json() for s in (42, 42, 43))
    assert stable(a) == stable(b)
    assert WIRE.reply(a).text != WIRE.reply(c).text
    assert len({WIRE.reply(create(app).json()).text for _ in range(3)}) == 3


# --------------------------------------------------------------------------- stream


def test_stream_grammar_and_framing(app):
    ex = stream(app, seed=5)
    assert ex.content_type == "text/event-stream" and not ex.sse_incomplete
    assert WIRE.stream_problems(ex, STREAMED) == []
    assert all(t.event.has_event_field for t in ex.events)
    events = events_of(ex)
    assert [e["type"] for e in events[:3]] == ["message_start", "ping", "content_block_start"]
    assert sum(e["type"] == "ping" for e in events) == 1
    assert events[0]["message"]["content"] == [] and events[0]["message"]["stop_reason"] is None
    assert events[-2]["type"] == "message_delta" and events[-1] == {"type": "message_stop"}
    thinking = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta" and e["index"] == 0]
    assert thinking[-1] == "signature_delta" and set(thinking[:-1]) == {"thinking_delta"}
    assert "[DONE]" not in ex.events[-1].event.data


def test_stream_spells_out_the_non_stream_answer(app):
    ex, m = stream(app, seed=5, stop_sequences=["zzz"]), create(app, seed=5, stop_sequences=["zzz"]).json()
    events = events_of(ex)
    reply, expected = WIRE.stream_reply(ex), WIRE.reply(m)
    assert (reply.text, reply.reasoning, reply.finish_reason) == (expected.text, expected.reasoning, "end_turn")
    assert reply.usage == expected.usage
    kinds = [d["type"] for d in (e["delta"] for e in events if e["type"] == "content_block_delta")]
    assert kinds.count("text_delta") + kinds.count("thinking_delta") == m["usage"]["output_tokens"]  # one per token
    signature = next(e["delta"]["signature"] for e in events
                     if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta")
    assert signature == m["content"][0]["signature"]


def test_stream_stop_sequence(app):
    full = WIRE.reply(create(app, seed=3).json()).text
    word = " " + full.split()[2]
    ex = stream(app, seed=3, stop_sequences=[word])
    assert WIRE.stream_problems(ex, STREAMED) == []
    delta = events_of(ex)[-2]["delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": word}


def test_billing_counts_successful_answers_only():
    app = create_app(CONTRACT)
    create(app, seed=1)
    stream(app, seed=1)
    create(app, temperature=3)
    send(app, "messages", {"model": CONTRACT.model, "messages": [{"role": "user", "content": "x"}]})
    assert [c.endpoint for c in app.state.server.ledger.charges] == ["messages", "messages"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("canonical, value", [
    ("temperature", 3), ("top_p", 1.5), ("max_tokens", 0), ("max_tokens", 5000), ("seed", -1), ("min_p", -0.1),
    ("frequency_penalty", -3), ("repetition_penalty", 2.5), ("reasoning_effort", "max"), ("stop", ["a"] * 5),
    ("enable_thinking", "yes"),
])
def test_parameter_errors_name_the_wire_parameter(app, canonical, value):
    wire = CONTRACT.parameters[canonical].binding("messages").wire_name
    ex = send(app, "messages", WIRE.body(ChatRequest([Turn("user", PROMPT)], params={canonical: value})))
    assert WIRE.error_problems(ex, status=400, param=wire) == []
    assert ex.json()["error"]["type"] == "invalid_request_error" and ex.json()["error"]["message"].startswith(wire)


@pytest.mark.parametrize("fields, param", [
    ({"max_tokens": None}, "max_tokens"),
    ({"messages": None}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}, "messages[0].content[0].tool_use_id"),
    ({"messages": [{"role": "user", "content": [{"type": "document"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64",
                    "media_type": "image/bmp", "data": "x"}}]}]}, "messages[0].content[0].source.media_type"),
    ({"system": [{"type": "image"}]}, "system[0].type"),
    ({"stream": 1}, "stream"),
])
def test_request_errors(app, fields, param):
    ex = send(app, "messages", {k: v for k, v in body(**fields).items() if v is not None})
    assert WIRE.error_problems(ex, status=400, param=param) == []


def test_auth_accepts_both_headers_and_any_version():
    app = create_app(CONTRACT, api_key="k")
    good = body(max_tokens=3)
    for headers in ({"x-api-key": "k"}, {"authorization": "Bearer k", "anthropic-version": "2026-10-21"},
                    {"x-api-key": "k", "anthropic-version": "1999-01-01"}):
        assert raw(app, "POST", "/v1/messages", headers, good).status_code == 200
    for headers in ({}, {"x-api-key": "nope"}, {"authorization": "Bearer nope"}):
        r = raw(app, "POST", "/v1/messages", headers, good)
        assert r.status_code == 401
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "authentication_error"


def test_not_found_and_wrong_method_in_the_anthropic_shape(app):
    ex = create(app, model="claude-nope")
    assert WIRE.error_problems(ex, status=404, param=None) == []
    assert ex.json()["error"]["type"] == "not_found_error"
    r = raw(app, "GET", "/v1/messages", {})
    assert r.status_code == 405 and r.json()["type"] == "error"


# --------------------------------------------------------------------------- faults


def faulty(name: str) -> Any:
    return create_app(CONTRACT, faults=Faults.parse([name]))


def test_messages_no_event_lines(app):
    normal, bad = stream(app, seed=8), stream(faulty("messages_no_event_lines"), seed=8)
    assert not any(t.event.has_event_field for t in bad.events)
    assert stable(events_of(bad)) == stable(events_of(normal))
    problems = WIRE.stream_problems(bad, STREAMED)
    assert len(problems) == len(bad.events) and all("no `event:` line" in p for p in problems)


def test_messages_no_message_stop(app):
    normal, bad = events_of(stream(app, seed=8)), stream(faulty("messages_no_message_stop"), seed=8)
    assert stable(events_of(bad)) == stable(normal[:-1])
    assert WIRE.stream_problems(bad, STREAMED) == ["stream: no message_stop"]


def test_messages_delta_unstarted_block(app):
    normal, bad = events_of(stream(app, seed=8)), stream(faulty("messages_delta_unstarted_block"), seed=8)
    text_start = next(i for i, e in enumerate(normal) if e.get("content_block", {}).get("type") == "text")
    assert stable(events_of(bad)) == stable(normal[:text_start] + normal[text_start + 1:])
    problems = WIRE.stream_problems(bad, STREAMED)
    assert problems and all("for index 1, never started" in p for p in problems), problems


def test_messages_null_stop_reason(app):
    normal = create(app, seed=8).json()
    m = create(faulty("messages_null_stop_reason"), seed=8).json()
    assert m["stop_reason"] is None
    assert stable({**m, "stop_reason": "end_turn"}) == stable(normal)
    assert WIRE.shape_problems(m) == ["body.stop_reason: must be non-null in a non-stream response"]
    normal_events = events_of(stream(app, seed=8))
    bad = stream(faulty("messages_null_stop_reason"), seed=8)
    normal_events[-2]["delta"]["stop_reason"] = None
    assert stable(events_of(bad)) == stable(normal_events)
    [problem] = WIRE.stream_problems(bad, STREAMED)
    assert "stop_reason is null" in problem


def test_messages_done_sentinel(app):
    normal, bad = stream(app, seed=8), stream(faulty("messages_done_sentinel"), seed=8)
    assert bad.events[-1].event.data == "[DONE]" and not bad.events[-1].event.has_event_field
    assert stable([json.loads(t.event.data) for t in bad.events[:-1]]) == stable(events_of(normal))
    [problem] = WIRE.stream_problems(bad, STREAMED)
    assert "[DONE]" in problem


def test_messages_openai_errors(app):
    bad_app = faulty("messages_openai_errors")
    normal, bad = create(app, temperature=3), create(bad_app, temperature=3)
    assert bad.status == normal.status == 400
    assert bad.json() == {"error": {"message": normal.json()["error"]["message"], "type": "invalid_request_error",
                                    "param": "temperature", "code": "decimal_above_max_value"}}
    assert WIRE.error_problems(bad, status=400, param="temperature") == ["body: 'type' is a required property"]
    assert create(bad_app, seed=1).status == 200  # successes are untouched
    locked = create_app(CONTRACT, api_key="k", faults=Faults.parse(["messages_openai_errors"]))
    r = raw(locked, "POST", "/v1/messages", {}, body())
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key" and "type" not in r.json()
    # Other endpoints keep their own shape (already OpenAI's); the fault is about /v1/messages.
    responses = Responses(CONTRACT.endpoints["responses"], CONTRACT)
    ex = send(bad_app, "responses", {"model": CONTRACT.model, "input": "x", "temperature": 3})
    assert responses.error_problems(ex, status=400, param="temperature") == []
