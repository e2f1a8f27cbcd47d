"""Function tools wired into the three endpoints: every tool_choice, the call's wire shape, tool results."""
from __future__ import annotations

import json

import jsonschema
import pytest

from conformance.server import create_app
from conformance.server.tokens import count_prompt_tokens

from .bodies import (
    CALL_PREFIX,
    CHAT,
    CONTRACT,
    ENDPOINTS,
    MESSAGES,
    RESPONSES,
    TOOL_FINISH,
    TOOLS,
    WIRES,
    Call,
    body,
    call_of,
    finish_of,
    input_tokens,
    problems,
    replay,
    send,
    text_of,
    tool_choice,
    tools,
    user,
)

WEATHER = "What is the weather in Paris right now?"
UNRELATED = "Write a haiku about the ocean."
BOTH = ("get_weather", "search_catalog")
RESULT = '{"temperature_c": 18, "sky": "clear"}'


@pytest.fixture(scope="module")
def app():
    return create_app(CONTRACT)


def ask(app, endpoint: str, *turns, stream: bool = False, names=BOTH, choice: tuple = (), **fields):
    fields = {"seed": 7, "tools": tools(endpoint, *names), **fields}
    if choice:
        fields["tool_choice"] = tool_choice(endpoint, *choice)
    if stream:
        fields["stream"] = True
    return send(app, endpoint, body(endpoint, *turns, **fields), stream=stream)


def assert_valid_call(endpoint: str, ex, name: str | None = None) -> Call:
    assert problems(endpoint, ex) == []
    call = call_of(endpoint, ex)
    assert call is not None, text_of(endpoint, ex)
    assert call.id.startswith(CALL_PREFIX[endpoint]) and len(call.suffix) == 24
    assert name is None or call.name == name
    jsonschema.validate(call.parsed(), TOOLS[call.name]["function"]["parameters"])
    assert finish_of(endpoint, ex) == TOOL_FINISH[endpoint]
    return call


# --------------------------------------------------------------------------- tool_choice


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_tool_choice_form(app, endpoint, stream):
    # auto calls the tool the prompt mentions, and nothing when it mentions none.
    assert_valid_call(endpoint, ask(app, endpoint, WEATHER, stream=stream), "get_weather")
    assert_valid_call(endpoint, ask(app, endpoint, WEATHER, stream=stream, choice=("auto",)), "get_weather")
    quiet = ask(app, endpoint, UNRELATED, stream=stream)
    assert problems(endpoint, quiet) == [] and call_of(endpoint, quiet) is None and text_of(endpoint, quiet)
    # required always calls; named calls that tool even when the prompt is about another.
    assert_valid_call(endpoint, ask(app, endpoint, UNRELATED, stream=stream, choice=("required",)))
    assert_valid_call(endpoint, ask(app, endpoint, WEATHER, stream=stream, choice=("named", "search_catalog")),
                      "search_catalog")
    # none never calls.
    none = ask(app, endpoint, WEATHER, stream=stream, choice=("none",))
    assert problems(endpoint, none) == [] and call_of(endpoint, none) is None and text_of(endpoint, none)


def test_the_call_is_seeded_and_the_same_on_every_endpoint_and_stream(app):
    calls = [call_of(e, ask(app, e, UNRELATED, stream=s, choice=("required",))) for e in ENDPOINTS for s in (0, 1)]
    assert len({(c.suffix, c.name, c.parsed() == calls[0].parsed()) for c in calls}) == 1, calls
    other_seed = call_of(CHAT, ask(app, CHAT, UNRELATED, choice=("required",), seed=8))
    assert (other_seed.suffix, other_seed.arguments) != (calls[0].suffix, calls[0].arguments)
    unseeded = {call_of(CHAT, ask(app, CHAT, WEATHER, seed=None)).id for _ in range(3)}
    assert len(unseeded) == 3


def test_thinking_still_reasons_before_the_call(app):
    chat = ask(app, CHAT, WEATHER).json()["choices"][0]["message"]
    assert chat["content"] is None and chat["reasoning_content"]
    resp = ask(app, RESPONSES, WEATHER).json()
    assert [i["type"] for i in resp["output"]] == ["reasoning", "function_call"]
    msg = ask(app, MESSAGES, WEATHER).json()
    assert [b["type"] for b in msg["content"]] == ["thinking", "tool_use"]
    usage = msg["usage"]
    assert usage["output_tokens"] > usage["output_tokens_details"]["thinking_tokens"] > 0


# --------------------------------------------------------------------------- streamed shapes


def events(ex):
    return [json.loads(t.event.data) for t in ex.events if t.event.data != "[DONE]"]


def test_chat_stream_fragments(app):
    chunks = events(ask(app, CHAT, WEATHER, stream=True, enable_thinking=False))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": None}
    fragments = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    head, *rest = fragments
    assert set(head) == {"index", "id", "type", "function"} and head["function"]["arguments"] == ""
    assert len(rest) >= 3 and all(f.keys() == {"index", "function"} and f["function"].keys() == {"arguments"}
                                  for f in rest)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"


def test_responses_stream_events(app):
    evs = events(ask(app, RESPONSES, WEATHER, stream=True, enable_thinking=False))
    kinds = [e["type"] for e in evs]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    added = evs[2]["item"]
    assert added["type"] == "function_call" and added["status"] == "in_progress" and added["arguments"] == ""
    assert added["id"].startswith("fc_") and added["call_id"].startswith("call_")
    deltas = [e["delta"] for e in evs if e["type"] == "response.function_call_arguments.delta"]
    done = next(e for e in evs if e["type"] == "response.function_call_arguments.done")
    assert len(deltas) >= 3 and "".join(deltas) == done["arguments"] and done["item_id"] == added["id"]
    assert kinds[-2:] == ["response.output_item.done", "response.completed"]
    assert evs[-2]["item"]["status"] == "completed" and evs[-1]["response"]["output"] == [evs[-2]["item"]]


def test_messages_stream_blocks(app):
    evs = events(ask(app, MESSAGES, WEATHER, stream=True, enable_thinking=False))
    start = next(e for e in evs if e["type"] == "content_block_start")
    assert start["index"] == 0 and start["content_block"]["input"] == {}
    assert start["content_block"]["id"].startswith("toolu_")
    pieces = [e["delta"]["partial_json"] for e in evs if e["type"] == "content_block_delta"]
    assert len(pieces) >= 3 and isinstance(json.loads("".join(pieces)), dict)
    assert next(e for e in evs if e["type"] == "message_delta")["delta"]["stop_reason"] == "tool_use"


# --------------------------------------------------------------------------- tool results


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_tool_result_is_answered_with_text(app, endpoint):
    call = assert_valid_call(endpoint, ask(app, endpoint, WEATHER))
    after = ask(app, endpoint, *replay(endpoint, WEATHER, call, RESULT))
    assert problems(endpoint, after) == [] and call_of(endpoint, after) is None and text_of(endpoint, after)
    streamed = ask(app, endpoint, *replay(endpoint, WEATHER, call, RESULT), stream=True)
    assert problems(endpoint, streamed) == [] and text_of(endpoint, streamed) == text_of(endpoint, after)
    # The result is part of the prompt: another result, another answer.
    other = ask(app, endpoint, *replay(endpoint, WEATHER, call, '{"temperature_c": -3}'))
    assert text_of(endpoint, other) != text_of(endpoint, after)
    # A new user turn is read again: auto may call once more; required always does.
    again = ask(app, endpoint, *replay(endpoint, WEATHER, call, RESULT), user(endpoint, WEATHER))
    assert call_of(endpoint, again) is not None
    assert_valid_call(endpoint, ask(app, endpoint, *replay(endpoint, WEATHER, call, RESULT), choice=("required",)))


def test_results_and_calls_are_the_same_prompt_everywhere(app):
    call = call_of(CHAT, ask(app, CHAT, WEATHER))
    answers = {e: ask(app, e, *replay(e, WEATHER, Call(CALL_PREFIX[e] + call.suffix, call.name, call.arguments),
                                      RESULT), enable_thinking=False) for e in ENDPOINTS}
    assert len({(text_of(e, ex), input_tokens(e, ex)) for e, ex in answers.items()}) == 1
    texts = [WEATHER, f"{call.name}\n{call.arguments}", RESULT]
    assert input_tokens(CHAT, answers[CHAT]) == count_prompt_tokens(texts)


@pytest.mark.parametrize("endpoint, param", [
    (CHAT, "messages[2].tool_call_id"), (RESPONSES, "input[2].call_id"),
    (MESSAGES, "messages[2].content[0].tool_use_id"),
])
def test_a_result_must_answer_an_earlier_call(app, endpoint, param):
    call = Call(CALL_PREFIX[endpoint] + "x" * 24, "get_weather", '{"city":"Paris"}')
    turns = replay(endpoint, WEATHER, call, RESULT)
    stray = Call(CALL_PREFIX[endpoint] + "y" * 24, call.name, call.arguments)
    wrong = turns[:2] + replay(endpoint, WEATHER, stray, RESULT)[2:]
    ex = ask(app, endpoint, *wrong)
    assert rejected(endpoint, ex, param) == []


def test_messages_results_answer_the_previous_assistant_turn_only(app):
    call = Call("toolu_" + "x" * 24, "get_weather", '{"city":"Paris"}')
    first = replay(MESSAGES, WEATHER, call, RESULT)
    later = [*first, {"role": "assistant", "content": "It is clear."}, first[2]]
    assert rejected(MESSAGES, ask(app, MESSAGES, *later), "messages[4].content[0].tool_use_id") == []


def rejected(endpoint: str, ex, param: str) -> list[str]:
    return WIRES[endpoint].error_problems(ex, status=400, param=param)


@pytest.mark.parametrize("endpoint, bad, param", [
    (CHAT, {"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
    (RESPONSES, {"tools": [{"type": "function", "name": "f", "parameters": {"type": "array"}}]}, "tools[0].parameters"),
    (MESSAGES, {"tools": [{"name": "f"}]}, "tools[0].input_schema"),
    (CHAT, {"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice.function.name"),
    (RESPONSES, {"tool_choice": "sometimes"}, "tool_choice"),
    (MESSAGES, {"tool_choice": {"type": "any"}, "tools": []}, "tool_choice"),
    (CHAT, {"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
])
def test_malformed_tools_are_400s_naming_the_field(app, endpoint, bad, param):
    fields = {"tools": tools(endpoint, *BOTH), **bad}
    ex = send(app, endpoint, body(endpoint, WEATHER, **fields))
    assert rejected(endpoint, ex, param) == []
