"""POST /v1/responses on the reference server, judged by the client-side Responses grammar."""
from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.protocols.base import ChatRequest, Turn
from conformance.protocols.chat_completions import ChatCompletions
from conformance.protocols.messages import Messages
from conformance.protocols.responses import Responses
from conformance.server import Faults, create_app
from conformance.server.images import IMAGE_TOKENS
from conformance.server.tokens import count_prompt_tokens
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Exchange

from .bodies import image_data_uri, send

CONTRACT = load_contract(DEFAULT_CONTRACT)
WIRE = Responses(CONTRACT.endpoints["responses"], CONTRACT)
WIRES = {"chat_completions": ChatCompletions(CONTRACT.endpoints["chat_completions"], CONTRACT),
         "responses": WIRE, "messages": Messages(CONTRACT.endpoints["messages"], CONTRACT)}
PROMPT = "Write a haiku about the ocean."
STREAMED = ChatRequest([Turn("user", PROMPT)], stream=True)
VOLATILE = ("id", "item_id", "created_at")  # differ on every request


def stable(value: Any) -> Any:
    """`value` with the per-request ids and timestamps blanked, for comparing two answers."""
    if isinstance(value, dict):
        return {k: "*" if k in VOLATILE else stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def events_of(ex: Exchange) -> list[dict[str, Any]]:
    return [json.loads(t.event.data) for t in ex.events]


@pytest.fixture(scope="module")
def app():
    return create_app(CONTRACT)


def body(**fields: Any) -> dict[str, Any]:
    return {"model": CONTRACT.model, "input": PROMPT, **fields}


def create(app: Any, **fields: Any) -> Exchange:
    return send(app, "responses", body(**fields))


def stream(app: Any, **fields: Any) -> Exchange:
    ex = send(app, "responses", body(stream=True, **fields), stream=True)
    assert ex.status == 200, ex.body
    return ex


# --------------------------------------------------------------------------- non-stream


def test_non_stream_response_object(app):
    ex = create(app, seed=1)
    assert ex.status == 200 and ex.content_type == "application/json"
    r = ex.json()
    assert WIRE.shape_problems(r) == []
    assert r["id"].startswith("resp_") and r["object"] == "response" and isinstance(r["created_at"], int)
    assert r["status"] == "completed" and r["incomplete_details"] is None and r["error"] is None
    assert r["model"] == CONTRACT.model
    reasoning, message = r["output"]  # thinking is on by default
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    [summary] = reasoning["summary"]
    assert summary["type"] == "summary_text" and summary["text"]
    assert message["type"] == "message" and message["id"].startswith("msg_") and message["role"] == "assistant"
    assert message["status"] == "completed"
    [part] = message["content"]
    assert part["type"] == "output_text" and part["text"] and part["annotations"] == []
    usage = r["usage"]
    assert usage["input_tokens"] == count_prompt_tokens([PROMPT])
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert 0 < usage["output_tokens_details"]["reasoning_tokens"] < usage["output_tokens"]


def test_instructions_and_input_items(app):
    items = [{"role": "user", "content": [
                 {"type": "input_text", "text": "Describe this."},
                 {"type": "input_image", "image_url": image_data_uri(), "detail": "low"}]},
             {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A dot."}]},
             {"role": "user", "content": "Shorter."}]
    r = create(app, instructions="Be brief.", input=items, seed=2).json()
    assert WIRE.shape_problems(r) == [] and r["instructions"] == "Be brief."
    texts = ["Be brief.", "Describe this.", "A dot.", "Shorter."]
    assert r["usage"]["input_tokens"] == count_prompt_tokens(texts, IMAGE_TOKENS)


def test_max_output_tokens_makes_the_response_incomplete(app):
    r = create(app, seed=3, max_output_tokens=4).json()
    assert WIRE.shape_problems(r) == []
    assert r["status"] == "incomplete" and r["incomplete_details"] == {"reason": "max_output_tokens"}
    assert r["max_output_tokens"] == 4 and r["output"][-1]["status"] == "incomplete"
    usage = r["usage"]
    assert usage["output_tokens"] == 4 + usage["output_tokens_details"]["reasoning_tokens"]
    assert WIRE.reply(r).finish_reason == "max_output_tokens"


@pytest.mark.parametrize("fields", [{"enable_thinking": False}, {"reasoning": {"effort": "low"}}])
def test_thinking_off(app, fields):
    r = create(app, seed=1, **fields).json()
    assert [item["type"] for item in r["output"]] == ["message"]
    assert r["usage"]["output_tokens_details"]["reasoning_tokens"] == 0
    assert WIRE.shape_problems(r) == []


def test_reasoning_effort_outvotes_enable_thinking(app):
    r = create(app, seed=1, enable_thinking=False, reasoning={"effort": "medium"}).json()
    assert [item["type"] for item in r["output"]] == ["reasoning", "message"]
    assert r["reasoning"]["effort"] == "medium"


def test_seed_determinism(app):
    a, b, c = (create(app, seed=s).json() for s in (42, 42, 43))
    assert stable(a) == stable(b)
    assert WIRE.reply(a).text != WIRE.reply(c).text
    assert len({WIRE.reply(create(app).json()).text for _ in range(3)}) == 3  # no seed: free to differ


# --------------------------------------------------------------------------- stream


def test_stream_grammar_and_framing(app):
    ex = stream(app, seed=5)
    assert ex.content_type == "text/event-stream" and not ex.sse_incomplete
    assert WIRE.stream_problems(ex, STREAMED) == []
    events = events_of(ex)
    assert all(t.event.has_event_field and t.event.event == e["type"] for t, e in zip(ex.events, events))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:3]] == ["response.created", "response.in_progress",
                                               "response.output_item.added"]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[0]["response"]["usage"] is None
    assert events[-1]["type"] == "response.completed"


def test_stream_spells_out_the_non_stream_answer(app):
    ex, r = stream(app, seed=5), create(app, seed=5).json()
    events = events_of(ex)
    assert stable(events[-1]["response"]) == stable(r)
    reply = WIRE.stream_reply(ex)
    assert (reply.text, reply.reasoning) == (WIRE.reply(r).text, WIRE.reply(r).reasoning)
    # One delta per token: the reasoning summary and the answer each stream token by token.
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    summary = [e for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert len(deltas) + len(summary) == r["usage"]["output_tokens"]
    assert "".join(deltas) == WIRE.reply(r).text


def test_stream_incomplete_and_thinking_off(app):
    ex = stream(app, seed=3, max_output_tokens=4, enable_thinking=False)
    assert WIRE.stream_problems(ex, STREAMED) == []
    events = events_of(ex)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert not any("reasoning" in e["type"] for e in events)
    assert sum(e["type"] == "response.output_text.delta" for e in events) == 4


def test_billing_counts_successful_answers_only():
    app = create_app(CONTRACT)
    ledger = app.state.server.ledger
    create(app, seed=1)
    stream(app, seed=1)
    create(app, temperature=3)
    assert [c.endpoint for c in ledger.charges] == ["responses", "responses"]
    assert ledger.total == pytest.approx(2 * CONTRACT.pricing.per_successful_message)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("canonical, value", [
    ("temperature", 3), ("top_p", -0.5), ("max_tokens", 0), ("max_tokens", 4097), ("seed", -1),
    ("presence_penalty", 2.5), ("min_p", 1.5), ("repetition_penalty", 0), ("reasoning_effort", "extreme"),
])
def test_range_errors_name_the_wire_parameter(app, canonical, value):
    wire = CONTRACT.parameters[canonical].binding("responses").wire_name
    ex = send(app, "responses", WIRE.body(ChatRequest([Turn("user", PROMPT)], params={canonical: value})))
    assert WIRE.error_problems(ex, status=400, param=wire) == []
    assert ex.json()["error"]["param"] == wire and ex.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("fields, param", [
    ({"input": None}, "input"),
    ({"input": []}, "input"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
    ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input[0].content[0].image_url"),
    ({"instructions": ["x"]}, "instructions"),
    ({"stream": "yes"}, "stream"),
])
def test_request_errors(app, fields, param):
    ex = send(app, "responses", {k: v for k, v in body(**fields).items() if v is not None})
    assert WIRE.error_problems(ex, status=400, param=param) == []


def test_unknown_model_and_bad_key():
    app = create_app(CONTRACT, api_key="k")
    for key, status, code in ((None, 401, "invalid_api_key"), ("not-the-key-0123", 401, "invalid_api_key"),
                              ("k", 404, "model_not_found")):
        ex = send(app, "responses", body(model="nope"), key=key)
        assert WIRE.error_problems(ex, status=status, param=None) == []
        assert ex.json()["error"]["code"] == code


# --------------------------------------------------------------------------- one text on every endpoint


@pytest.mark.parametrize("params", [{"seed": 11, "max_tokens": 60}, {"seed": 12, "enable_thinking": False},
                                    {"seed": 13, "max_tokens": 5, "temperature": 0.3}])
def test_same_text_on_every_endpoint(app, params):
    """Chat, Responses and Messages reduce a conversation to the same canonical prompt: same seed, same text."""
    params = {"max_tokens": 200, **params}  # Messages requires one; the same everywhere
    request = ChatRequest([Turn("system", "Be brief."), Turn("user", PROMPT)], params=params)
    replies = {}
    for name, wire in WIRES.items():
        ex = send(app, name, wire.body(request))
        assert ex.status == 200, ex.body
        replies[name] = wire.reply(ex.json())
    texts = {name: (r.text, r.reasoning, r.usage.input_tokens, r.usage.output_tokens) for name, r in replies.items()}
    assert len(set(texts.values())) == 1, texts
    kinds = {WIRES[name].finish_kind(r) for name, r in replies.items()}
    assert len(kinds) == 1, kinds


# --------------------------------------------------------------------------- faults


def faulty(name: str) -> Any:
    return create_app(CONTRACT, faults=Faults.parse([name]))


def test_responses_bad_sequence(app):
    normal, bad = events_of(stream(app, seed=8)), stream(faulty("responses_bad_sequence"), seed=8)
    broken = events_of(bad)
    numbers = [e.pop("sequence_number") for e in broken]
    assert numbers == [0, 1, 2] + list(range(4, len(normal) + 1))
    assert stable(broken) == stable([{k: v for k, v in e.items() if k != "sequence_number"} for e in normal])
    problems = WIRE.stream_problems(bad, STREAMED)
    assert problems == ["event 3: sequence_number 4 after 2, expected 3"]


def test_responses_no_terminal(app):
    normal, bad = events_of(stream(app, seed=8)), stream(faulty("responses_no_terminal"), seed=8)
    assert stable(events_of(bad)) == stable(normal[:-1])
    [problem] = WIRE.stream_problems(bad, STREAMED)
    assert "no terminal event" in problem


def test_responses_delta_before_added(app):
    normal, bad = events_of(stream(app, seed=8)), stream(faulty("responses_delta_before_added"), seed=8)
    broken = events_of(bad)
    at = next(i for i, e in enumerate(normal) if e["type"] == "response.content_part.added")
    normal[at], normal[at + 1] = normal[at + 1], normal[at]
    for number, event in enumerate(normal):
        event["sequence_number"] = number
    assert stable(broken) == stable(normal)
    problems = WIRE.stream_problems(bad, STREAMED)
    assert any("response.output_text.delta before response.content_part.added" in p for p in problems), problems
    # The grammar drops the orphaned delta, so it also sees a shorter concatenation: the same mistake's echo.
    assert all("output_index 1" in p for p in problems), problems


def test_responses_usage_total(app):
    normal = create(app, seed=8).json()
    r = create(faulty("responses_usage_total"), seed=8).json()
    assert r["usage"]["total_tokens"] == normal["usage"]["total_tokens"] + 1
    r["usage"]["total_tokens"] -= 1
    assert stable(r) == stable(normal)
    [problem] = WIRE.shape_problems(create(faulty("responses_usage_total"), seed=8).json())
    assert "total_tokens" in problem
    [problem] = WIRE.stream_problems(stream(faulty("responses_usage_total"), seed=8), STREAMED)
    assert "usage.total_tokens" in problem
