"""The Anthropic Messages grammar, on hand-made bodies and streams: each rule can fail."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conformance.protocols.base import ChatRequest, Turn
from conformance.protocols.messages import Messages
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Exchange, TimedEvent
from conformance.transport.sse import SSEEvent

CONTRACT = load_contract(DEFAULT_CONTRACT)
WIRE = Messages(CONTRACT.endpoints["messages"], CONTRACT)

BODY = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "gemma-4-e4b",
    "content": [{"type": "thinking", "thinking": "Greet back.", "signature": "sig"},
                {"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 9, "output_tokens_details": {"thinking_tokens": 4}},
}
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}


def start(**over: Any) -> dict[str, Any]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "gemma-4-e4b", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}
    message.update(over)
    return {"type": "message_start", "message": message}


def block(index: int, skeleton: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": skeleton}


def delta(index: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None = "end_turn", output_tokens: int = 9, **fields: Any) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None, **fields},
            "usage": {"output_tokens": output_tokens}}


PING = {"type": "ping"}
END = {"type": "message_stop"}
THINKING = [block(0, {"type": "thinking", "thinking": "", "signature": ""}),
            delta(0, "thinking_delta", thinking="Greet "), delta(0, "thinking_delta", thinking="back."),
            delta(0, "signature_delta", signature="sig"), stop(0)]
TEXT = [block(1, {"type": "text", "text": ""}), PING, delta(1, "text_delta", text="Hi"),
        delta(1, "text_delta", text=" there"), stop(1)]
GOOD_STREAM = [start(), PING, *THINKING, *TEXT, message_delta(), END]
TOOL_BLOCK = [block(2, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
              delta(2, "input_json_delta", partial_json=""), delta(2, "input_json_delta", partial_json='{"locati'),
              delta(2, "input_json_delta", partial_json='on": "Paris"}'), stop(2)]
TOOL_STREAM = [start(), *THINKING, *TEXT, *TOOL_BLOCK, message_delta("tool_use"), END]


class Unnamed(dict):
    """A frame sent without an `event:` line."""


class Named(dict):
    """A frame whose `event:` line says `name` instead of its data.type."""

    def __init__(self, name: str, data: dict[str, Any]):
        super().__init__(data)
        self.name = name


def exchange(frames: list[Any], content_type: str = "text/event-stream") -> Exchange:
    ex = Exchange("messages", "http://x/v1/messages", {}, True, status=200, headers={"content-type": content_type})
    for i, f in enumerate(frames):
        if isinstance(f, str):
            event = SSEEvent(data=f)
        elif isinstance(f, Unnamed):
            event = SSEEvent(data=json.dumps(f))
        else:
            event = SSEEvent(event=getattr(f, "name", f["type"]), data=json.dumps(f), has_event_field=True)
        ex.events.append(TimedEvent(i, event))
    return ex


def request() -> ChatRequest:
    return ChatRequest([Turn("user", "hi")], stream=True)


def replaced(frames: list[Any], at: int, *new: Any) -> list[Any]:
    return frames[:at] + list(new) + frames[at + 1:]


def test_good_body_and_streams_have_no_problems() -> None:
    assert WIRE.shape_problems(BODY) == []
    assert WIRE.stream_problems(exchange(GOOD_STREAM), request()) == []
    assert WIRE.stream_problems(exchange(TOOL_STREAM), request()) == []
    tool_body = dict(BODY, content=BODY["content"] + [TOOL], stop_reason="tool_use")
    assert WIRE.shape_problems(tool_body) == []


def test_body_and_stream_reassemble_the_same_reply() -> None:
    body = WIRE.reply(BODY)
    streamed = WIRE.stream_reply(exchange(GOOD_STREAM))
    for reply in (body, streamed):
        assert (reply.text, reply.reasoning, reply.finish_reason, reply.response_id) == \
            ("Hi there", "Greet back.", "end_turn", "msg_1")
        assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (5, 9, 14)
    assert body.usage.reasoning_tokens == 4 and streamed.usage.reasoning_tokens is None
    assert WIRE.stream_reply(exchange(TOOL_STREAM)).finish_reason == "tool_use"


def mutated(path: tuple, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    node = body
    for part in path[:-1]:
        node = node[part]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


@pytest.mark.parametrize("path,value,expected", [
    (("type",), "completion", "body.type"),
    (("role",), "user", "body.role"),
    (("content",), "Hi", "body.content"),
    (("content", 1, "text"), KeyError, "body.content[1]: 'text' is a required property"),
    (("content", 0, "signature"), KeyError, "'signature' is a required property"),
    (("content", 2), dict(TOOL, input="Paris"), "body.content[2].input"),
    (("usage",), KeyError, "'usage' is a required property"),
    (("usage", "output_tokens"), -1, "body.usage.output_tokens"),
    (("stop_sequence",), KeyError, "'stop_sequence' is a required property"),
    (("stop_reason",), None, "must be non-null"),
    (("stop_reason",), "stop", "'stop' is not one of end_turn"),
    (("stop_reason",), "stop_sequence", "the matched stop_sequence is null"),
    (("stop_sequence",), "END", "only 'stop_sequence' carries one"),
    (("stop_reason",), "tool_use", "no tool_use block"),
    (("id",), "chatcmpl-1", "body.id: expected the prefix 'msg_'"),
    (("content", 2), dict(TOOL, id="call_1"), "body.content[2].id: expected the prefix 'toolu_'"),
])
def test_each_body_rule_can_fail(path: tuple, value: Any, expected: str) -> None:
    problems = WIRE.shape_problems(mutated(path, value))
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_stop_sequence_with_its_reason_is_fine() -> None:
    body = dict(BODY, stop_reason="stop_sequence", stop_sequence="END")
    assert WIRE.shape_problems(body) == []


N = len(GOOD_STREAM)
STREAM_BREAKS = {
    # framing
    "no event line": (replaced(GOOD_STREAM, 7, Unnamed(GOOD_STREAM[7])), "event 7: no `event:` line"),
    "event name differs": (replaced(GOOD_STREAM, 7, Named("content_block_delta", GOOD_STREAM[7])),
                           "`event: content_block_delta` does not match data.type 'content_block_start'"),
    "bad json": (replaced(GOOD_STREAM, 3, '{"type": '), "event 3: data is not JSON"),
    "unknown event": (replaced(GOOD_STREAM, 1, {"type": "keepalive"}), "event 1.type: 'keepalive' is not one of"),
    "delta without text": (replaced(GOOD_STREAM, 10, delta(1, "text_delta")), "event 10.delta"),
    "[DONE] after message_stop": (GOOD_STREAM + ["[DONE]"], f"event {N}: `[DONE]` is not part of"),
    # message_start
    "no message_start": (GOOD_STREAM[1:], "event 1: the first event must be message_start, found content_block_start"),
    "start has content": (replaced(GOOD_STREAM, 0, start(content=[{"type": "text", "text": "Hi"}])),
                          "message_start.message.content must be [], found 1 block(s)"),
    "start has stop_reason": (replaced(GOOD_STREAM, 0, start(stop_reason="end_turn")),
                              "message_start.message.stop_reason must be null, found 'end_turn'"),
    "start repeated": (GOOD_STREAM[:2] + [start()] + GOOD_STREAM[2:], "event 2: message_start repeated"),
    "message id prefix": (replaced(GOOD_STREAM, 0, start(id="chatcmpl-1")), "message.id: expected the prefix 'msg_'"),
    # block bookkeeping
    "index skipped": (GOOD_STREAM[:7] + [block(2, {"type": "text", "text": ""}), delta(2, "text_delta", text="Hi"),
                                         stop(2)] + GOOD_STREAM[-2:],
                      "event 7: content_block_start for index 2, expected index 1"),
    "first index not 0": ([start(), block(1, {"type": "text", "text": ""}), stop(1), message_delta(), END],
                          "content_block_start for index 1, expected index 0"),
    "index started twice": (GOOD_STREAM[:7] + [block(0, {"type": "text", "text": ""})] + GOOD_STREAM[7:],
                            "event 7: content_block_start for index 0, already started at event 2"),
    "delta never started": (GOOD_STREAM[:-2] + [delta(2, "text_delta", text="!")] + GOOD_STREAM[-2:],
                            f"event {N - 2}: content_block_delta for index 2, never started"),
    "delta after stop": (GOOD_STREAM[:7] + [delta(0, "thinking_delta", thinking="more")] + GOOD_STREAM[7:],
                         "event 7: content_block_delta for index 0, already stopped"),
    "stop never started": (GOOD_STREAM[:-2] + [stop(5)] + GOOD_STREAM[-2:],
                           f"event {N - 2}: content_block_stop for index 5, never started"),
    "stopped twice": (GOOD_STREAM[:7] + [stop(0)] + GOOD_STREAM[7:], "event 7: content_block_stop for index 0, "
                                                                    "already stopped"),
    "overlapping blocks": (GOOD_STREAM[:6] + TEXT[:1] + GOOD_STREAM[6:7] + TEXT[1:] + GOOD_STREAM[-2:],
                           "event 6: content_block_start for index 1 while index 0 is still open"),
    "never stopped": (GOOD_STREAM[:11] + GOOD_STREAM[12:], "content block 1 (started at event 7) never stopped"),
    "block after message_delta": (GOOD_STREAM[:2] + THINKING[:1] + [message_delta()] + THINKING[1:] + [END],
                                  "content_block_delta after the message_delta of event 3"),
    # delta types
    "text_delta in thinking": (replaced(GOOD_STREAM, 3, delta(0, "text_delta", text="x")),
                               "event 3: text_delta in a thinking block (index 0); expected thinking_delta or "
                               "signature_delta"),
    "thinking_delta in text": (replaced(GOOD_STREAM, 9, delta(1, "thinking_delta", thinking="x")),
                               "thinking_delta in a text block (index 1); expected text_delta or citations_delta"),
    "json in text": (replaced(GOOD_STREAM, 9, delta(1, "input_json_delta", partial_json="{}")),
                     "input_json_delta in a text block"),
    "text_delta in tool_use": (replaced(TOOL_STREAM, 12, delta(2, "text_delta", text="x")),
                               "text_delta in a tool_use block (index 2); expected input_json_delta"),
    "delta in redacted_thinking": ([start(), block(0, {"type": "redacted_thinking", "data": "x"}),
                                    delta(0, "thinking_delta", thinking="x"), stop(0), message_delta(), END],
                                   "thinking_delta in a redacted_thinking block (index 0); expected no deltas"),
    "thinking after signature": (GOOD_STREAM[:6] + [delta(0, "thinking_delta", thinking="!")] + GOOD_STREAM[6:],
                                 "event 6: thinking_delta after the signature_delta of index 0"),
    # tool input
    "tool input not JSON": (replaced(TOOL_STREAM, 14, delta(2, "input_json_delta", partial_json='on": "Paris"')),
                            "input_json_delta pieces of index 2 do not join into JSON"),
    "tool input an array": (TOOL_STREAM[:12] + [delta(2, "input_json_delta", partial_json='["Paris"]')]
                            + TOOL_STREAM[15:], "join into a JSON list, not a JSON object"),
    "tool id prefix": (replaced(TOOL_STREAM, 11, block(2, dict(TOOL_BLOCK[0]["content_block"], id="call_1"))),
                       "event 11: content_block.id: expected the prefix 'toolu_'"),
    # message_delta
    "no message_delta": (GOOD_STREAM[:-2] + [END], "no message_delta"),
    "null stop_reason": (replaced(GOOD_STREAM, N - 2, message_delta(None)), "message_delta.delta.stop_reason is null"),
    "stop_reason outside enum": (replaced(GOOD_STREAM, N - 2, message_delta("stop")),
                                 "stop_reason: 'stop' is not one of end_turn"),
    "two stop_reasons": (GOOD_STREAM[:-1] + [message_delta(), END], "stop_reason sent in 2 message_delta events"),
    "stop_reason reset": (GOOD_STREAM[:-1] + [message_delta(None), END], "resets stop_reason to null"),
    "output_tokens as increments": (GOOD_STREAM[:-2] + [message_delta(None, 9), message_delta("end_turn", 2), END],
                                    "usage.output_tokens went down from 9"),
    "stop_sequence missing": (replaced(GOOD_STREAM, N - 2, message_delta("stop_sequence")),
                              "the matched stop_sequence is null"),
    "stop_sequence unasked": (replaced(GOOD_STREAM, N - 2, message_delta("end_turn", stop_sequence="END")),
                              "only 'stop_sequence' carries one"),
    "tool_use without a tool block": (replaced(GOOD_STREAM, N - 2, message_delta("tool_use")), "no tool_use block"),
    "usage missing": (replaced(GOOD_STREAM, N - 2, {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
                      "'usage' is a required property"),
    # message_stop
    "no message_stop": (GOOD_STREAM[:-1], "no message_stop"),
    "two message_stop": (GOOD_STREAM + [END], "message_stop sent 2 times"),
    "message_stop not last": (GOOD_STREAM + [PING], f"event {N - 1}: message_stop must be the last event, found 1"),
    # in-band error
    "error event": (GOOD_STREAM[:8] + [{"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}],
                    "event 8: error event: overloaded_error: Overloaded"),
    "events after error": (GOOD_STREAM[:8] + [{"type": "error", "error": {"type": "api_error", "message": "x"}}]
                           + GOOD_STREAM[8:], "event 10: content_block_delta after the error event 8"),
}


@pytest.mark.parametrize("name", list(STREAM_BREAKS))
def test_each_stream_rule_can_fail(name: str) -> None:
    frames, expected = STREAM_BREAKS[name]
    problems = WIRE.stream_problems(exchange(frames), request())
    assert any(expected in p for p in problems), problems
    # Exactly one rule breaks, except that an in-band error is reported beside what follows it.
    assert len(problems) == (2 if name == "events after error" else 1), problems


def test_an_error_event_is_not_followed_by_its_consequences() -> None:
    frames = GOOD_STREAM[:8] + [{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]
    assert WIRE.stream_problems(exchange(frames), request()) == ["event 8: error event: overloaded_error: Overloaded"]


def test_pings_are_allowed_anywhere_before_message_stop() -> None:
    frames = [PING, GOOD_STREAM[0]] + [f for g in GOOD_STREAM[1:-1] for f in (g, PING)] + [END]
    assert WIRE.stream_problems(exchange(frames), request()) == []


def test_stream_content_type_and_truncation() -> None:
    assert any("content-type" in p for p in WIRE.stream_problems(exchange(GOOD_STREAM, "application/json"), request()))
    truncated = exchange(GOOD_STREAM)
    truncated.sse_incomplete = True
    assert any("middle of an event" in p for p in WIRE.stream_problems(truncated, request()))
    assert WIRE.stream_problems(exchange([]), request()) == ["stream: no events at all"]


def test_is_content_means_non_empty_answer_text() -> None:
    events = exchange(GOOD_STREAM).events
    assert [i for i, t in enumerate(events) if WIRE.is_content(t.event)] == [9, 10]
    assert not WIRE.is_content(SSEEvent(data=json.dumps(delta(1, "text_delta", text=""))))


def test_body_puts_system_on_top_and_defaults_max_tokens() -> None:
    turns = [Turn("system", "Be brief."), Turn("user", "hi")]
    body = WIRE.body(ChatRequest(turns, stream=True, include_usage=True))
    assert body == {"model": "gemma-4-e4b", "max_tokens": CONTRACT.probe_max_tokens, "system": "Be brief.",
                    "messages": [{"role": "user", "content": "hi"}], "stream": True}
    body = WIRE.body(ChatRequest([Turn("user", "hi")], params={"max_tokens": 5, "stop": ["x"]}))
    assert body["max_tokens"] == 5 and body["stop_sequences"] == ["x"]
    assert "system" not in body and "stream" not in body


def error_exchange(status: int, body: Any) -> Exchange:
    return Exchange("messages", "u", {}, False, status=status, headers={"content-type": "application/json"},
                    body=json.dumps(body).encode())


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


def test_a_good_error_has_no_problems() -> None:
    ex = error_exchange(400, anthropic_error("invalid_request_error", "temperature: range: 0..2"))
    assert WIRE.error_problems(ex, status=400, param="temperature") == []


@pytest.mark.parametrize("status,body,expected", [
    (422, anthropic_error("invalid_request_error", "temperature: bad"), "status: expected 400, found 422"),
    (400, {"error": {"type": "invalid_request_error", "message": "temperature: bad"}}, "'type' is a required"),
    (400, anthropic_error("bad_request", "temperature: bad"), "unknown error type 'bad_request'"),
    (400, anthropic_error("not_found_error", "temperature: bad"), "'not_found_error' belongs with status 404"),
    (400, anthropic_error("invalid_request_error", "a value is out of range"),
     "does not name the parameter 'temperature'"),
])
def test_each_error_rule_can_fail(status: int, body: Any, expected: str) -> None:
    problems = WIRE.error_problems(error_exchange(status, body), status=400, param="temperature")
    assert any(expected in p for p in problems), problems


def test_an_error_that_is_not_json() -> None:
    ex = Exchange("messages", "u", {}, False, status=413, body=b"<html>413</html>")
    assert any("JSON error object" in p for p in WIRE.error_problems(ex, status=413, param=None))


def test_cached_prompt_tokens_count_as_input() -> None:
    from conformance.protocols.messages import _usage

    usage = _usage({"input_tokens": 3, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 2,
                    "output_tokens": 5})
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (45, 5, 50)
