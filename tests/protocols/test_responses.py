"""The Responses grammar, on hand-made bodies and streams: each rule can fail."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conformance.protocols.base import ChatRequest, Turn, Usage
from conformance.protocols.responses import Responses
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Exchange, TimedEvent
from conformance.transport.sse import SSEEvent

CONTRACT = load_contract(DEFAULT_CONTRACT)
WIRE = Responses(CONTRACT.endpoints["responses"], CONTRACT)

USAGE = {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
         "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 9}
REASONING = {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Greet them."}]}
MESSAGE = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}]}
CALL = {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "get_weather",
        "arguments": '{"city":"Paris"}'}


def response(status: str = "completed", output: list[Any] | None = None, **over: Any) -> dict[str, Any]:
    r = {"id": "resp_1", "object": "response", "created_at": 1754925861, "status": status, "model": "gemma-4-e4b",
         "error": None, "incomplete_details": None, "output": [REASONING, MESSAGE] if output is None else output,
         "usage": USAGE if status != "in_progress" else None}
    r.update(over)
    return copy.deepcopy(r)


BODY = response()
CALL_BODY = response(output=[CALL])
STARTED = response("in_progress", [])


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def text_events(kind: str, n: int, item_id: str, index: dict[str, int], pieces: list[str], field: str = "text"
                ) -> list[dict[str, Any]]:
    deltas = [ev(f"{kind}.delta", item_id=item_id, output_index=n, **index, delta=p) for p in pieces]
    return deltas + [ev(f"{kind}.done", item_id=item_id, output_index=n, **index, **{field: "".join(pieces)})]


SUMMARY = {"summary_index": 0}
PART = {"content_index": 0}
# 0 created, 1 in_progress, 2-8 the reasoning item (summary part, two deltas), 9-15 the message item
# (content part, "Hel" + "lo"), 16 completed.
GOOD_STREAM = [
    ev("response.created", response=STARTED),
    ev("response.in_progress", response=STARTED),
    ev("response.output_item.added", output_index=0, item={"id": "rs_1", "type": "reasoning", "summary": []}),
    ev("response.reasoning_summary_part.added", item_id="rs_1", output_index=0, **SUMMARY,
       part={"type": "summary_text", "text": ""}),
    *text_events("response.reasoning_summary_text", 0, "rs_1", SUMMARY, ["Greet ", "them."]),
    ev("response.reasoning_summary_part.done", item_id="rs_1", output_index=0, **SUMMARY,
       part={"type": "summary_text", "text": "Greet them."}),
    ev("response.output_item.done", output_index=0, item=REASONING),
    ev("response.output_item.added", output_index=1,
       item={"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}),
    ev("response.content_part.added", item_id="msg_1", output_index=1, **PART,
       part={"type": "output_text", "text": "", "annotations": [], "logprobs": []}),
    *text_events("response.output_text", 1, "msg_1", PART, ["Hel", "lo"]),
    ev("response.content_part.done", item_id="msg_1", output_index=1, **PART, part=MESSAGE["content"][0]),
    ev("response.output_item.done", output_index=1, item=MESSAGE),
    ev("response.completed", response=BODY),
]
assert len(GOOD_STREAM) == 17

RAW_REASONING = {"id": "rs_1", "type": "reasoning", "summary": [],
                 "content": [{"type": "reasoning_text", "text": "Paris."}]}
# A raw-reasoning item (open-weight servers), then a function call: 0 created, 1-7 reasoning, 8-12 the call,
# 13 completed.
CALL_STREAM = [
    ev("response.created", response=STARTED),
    ev("response.output_item.added", output_index=0, item={"id": "rs_1", "type": "reasoning", "summary": []}),
    ev("response.content_part.added", item_id="rs_1", output_index=0, **PART,
       part={"type": "reasoning_text", "text": ""}),
    *text_events("response.reasoning_text", 0, "rs_1", PART, ["Par", "is."]),
    ev("response.content_part.done", item_id="rs_1", output_index=0, **PART, part=RAW_REASONING["content"][0]),
    ev("response.output_item.done", output_index=0, item=RAW_REASONING),
    ev("response.output_item.added", output_index=1, item={**CALL, "arguments": "", "status": "in_progress"}),
    *text_events("response.function_call_arguments", 1, "fc_1", {}, ['{"city":', '"Paris"}'], "arguments"),
    ev("response.output_item.done", output_index=1, item=CALL),
    ev("response.completed", response=response(output=[RAW_REASONING, CALL])),
]
assert len(CALL_STREAM) == 14

MISSING = object()  # a field value that means "leave the field out"


def exchange(frames: list[Any], content_type: str = "text/event-stream") -> Exchange:
    """Frames are raw data strings, or dicts numbered in order and named after their type unless they say otherwise.

    A dict may set `_event` to the `event:` line to send (None for none) and `sequence_number` to MISSING.
    """
    ex = Exchange("responses", "http://x/v1/responses", {}, True, status=200, headers={"content-type": content_type})
    numbered = 0
    for i, f in enumerate(frames):
        if isinstance(f, str):
            ex.events.append(TimedEvent(i, SSEEvent(data=f)))
            continue
        f = {"sequence_number": numbered, **f}
        numbered += 1
        name = f.pop("_event", f["type"])
        data = {k: v for k, v in f.items() if v is not MISSING}
        ex.events.append(TimedEvent(i, SSEEvent(event=name or "message", data=json.dumps(data),
                                                has_event_field=name is not None)))
    return ex


def request() -> ChatRequest:
    return ChatRequest([Turn("user", "hi")], stream=True)


def with_(stream: list[Any], at: int, **over: Any) -> list[Any]:
    """The stream with event `at` changed by `over`."""
    changed = copy.deepcopy(stream)
    changed[at].update(over)
    return changed


def without(stream: list[Any], *at: int) -> list[Any]:
    return [f for i, f in enumerate(stream) if i not in at]


def inserted(stream: list[Any], at: int, frame: Any) -> list[Any]:
    return stream[:at] + [frame] + stream[at:]


def test_good_body_and_streams_have_no_problems() -> None:
    assert WIRE.shape_problems(BODY) == []
    assert WIRE.shape_problems(CALL_BODY) == []
    assert WIRE.stream_problems(exchange(GOOD_STREAM), request()) == []
    assert WIRE.stream_problems(exchange(CALL_STREAM), request()) == []


def test_a_trailing_done_marker_is_tolerated() -> None:
    assert WIRE.stream_problems(exchange(GOOD_STREAM + ["[DONE]"]), request()) == []


def test_cut_and_failed_streams_can_be_well_formed() -> None:
    cut_message = {**MESSAGE, "status": "incomplete"}
    cut = with_(with_(GOOD_STREAM, 15, item=cut_message), 16, type="response.incomplete", response=response(
        "incomplete", [REASONING, cut_message], incomplete_details={"reason": "max_output_tokens"}))
    assert WIRE.stream_problems(exchange(cut), request()) == []
    assert WIRE.stream_reply(exchange(cut)).finish_reason == "max_output_tokens"
    # A failure may stop mid-item: its output need not match what streamed, but it must say why.
    failed = GOOD_STREAM[:12] + [ev("response.failed", response=response(
        "failed", [], error={"code": "server_error", "message": "boom"}))]
    assert WIRE.stream_problems(exchange(failed), request()) == []
    no_error = with_(failed, 12, response=response("failed", []))
    assert WIRE.stream_problems(exchange(no_error), request()) == [
        "event 12.response.error: missing although status is 'failed'"]


def test_reply_reads_text_reasoning_finish_and_usage() -> None:
    reply = WIRE.reply(BODY)
    assert (reply.text, reply.reasoning, reply.finish_reason, reply.response_id) == ("Hello", "Greet them.",
                                                                                      "completed", "resp_1")
    assert reply.usage == Usage(5, 4, 9, 2)
    cut = response("incomplete", incomplete_details={"reason": "max_output_tokens"})
    assert WIRE.shape_problems(cut) == [] and WIRE.reply(cut).finish_reason == "max_output_tokens"
    # Raw reasoning text wins over a summary of it.
    assert WIRE.reply(response(output=[{**RAW_REASONING, "summary": REASONING["summary"]}])).reasoning == "Paris."


def test_stream_reply_reassembles_from_the_terminal_event_or_the_deltas() -> None:
    assert WIRE.stream_reply(exchange(GOOD_STREAM)) == WIRE.reply(BODY)
    assert WIRE.stream_reply(exchange(CALL_STREAM)).reasoning == "Paris."
    cut = WIRE.stream_reply(exchange(GOOD_STREAM[:-1]))
    assert (cut.text, cut.reasoning, cut.finish_reason, cut.usage, cut.response_id) == ("Hello", "Greet them.",
                                                                                         None, None, "resp_1")
    no_output = with_(GOOD_STREAM, 16, response={k: v for k, v in BODY.items() if k != "output"})
    assert WIRE.stream_reply(exchange(no_output)).text == "Hello"


def test_is_content_means_a_non_empty_output_text_delta() -> None:
    def data(frame: dict[str, Any]) -> SSEEvent:
        return SSEEvent(event=frame["type"], data=json.dumps(frame), has_event_field=True)
    assert WIRE.is_content(data(GOOD_STREAM[11]))
    assert not WIRE.is_content(data({**GOOD_STREAM[11], "delta": ""}))
    assert not WIRE.is_content(data(GOOD_STREAM[4]))  # reasoning is not the answer
    assert not WIRE.is_content(SSEEvent(data="[DONE]"))


def _set(body: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node = body
    for part in path[:-1]:
        node = node[part]
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


@pytest.mark.parametrize("body,path,value,expected", [
    (BODY, ("object",), "chat.completion", "body.object"),
    (BODY, ("created_at",), "yesterday", "body.created_at"),
    (BODY, ("status",), "done", "body.status"),
    (BODY, ("output", 1, "role"), "user", "body.output[1].role"),
    (BODY, ("output", 1, "content", 0, "annotations"), MISSING, "'annotations' is a required property"),
    (BODY, ("output", 0, "summary", 0, "text"), 3, "body.output[0].summary[0].text"),
    (BODY, ("usage", "output_tokens_details"), MISSING, "'output_tokens_details' is a required property"),
    (BODY, ("usage", "total_tokens"), 10, "total_tokens: 10 != input_tokens 5 + output_tokens 4"),
    (BODY, ("usage", "output_tokens_details", "reasoning_tokens"), 5, "reasoning_tokens: 5 exceeds output_tokens 4"),
    (BODY, ("usage",), None, "body.usage: missing"),
    (BODY, ("id",), "chatcmpl-1", "body.id: expected the prefix 'resp_'"),
    (BODY, ("output", 1, "id"), "item_1", "body.output[1].id: expected the prefix 'msg_'"),
    (BODY, ("status",), "incomplete", "incomplete_details.reason: missing"),
    (BODY, ("status",), "failed", "body.error: missing"),
    (CALL_BODY, ("output", 0, "call_id"), "", "body.output[0].call_id: empty"),
    (CALL_BODY, ("output", 0, "call_id"), "fc_9", "body.output[0].call_id: expected the prefix 'call_'"),
    (CALL_BODY, ("output", 0, "arguments"), {"city": "Paris"}, "body.output[0].arguments"),
], ids=lambda v: None if isinstance(v, (dict, tuple)) else str(v))
def test_each_body_rule_can_fail(body: dict[str, Any], path: tuple, value: Any, expected: str) -> None:
    problems = WIRE.shape_problems(_set(body, path, value))
    assert any(expected in p for p in problems), problems


_EMPTY_DELTA = ev("response.output_text.delta", item_id="msg_1", output_index=1, **PART, delta="")

STREAM_BREAKS = {
    # framing and per-event schema
    "bad json": (inserted(GOOD_STREAM, 5, '{"type": '), "event 5: data is not JSON"),
    "no event line": (with_(GOOD_STREAM, 3, _event=None), "event 3: no `event:` line"),
    "event line differs": (with_(GOOD_STREAM, 3, _event="message"), "event 3: `event: message` but data.type"),
    "delta not a string": (with_(GOOD_STREAM, 11, delta=5), "event 11.delta: 5 is not of type 'string'"),
    "no sequence_number": (with_(GOOD_STREAM, 2, sequence_number=MISSING), "'sequence_number' is a required"),
    "no output_index": (with_(GOOD_STREAM, 11, output_index=MISSING), "event 11: 'output_index' is a required"),
    "[DONE] mid-stream": (inserted(GOOD_STREAM, 5, "[DONE]"), "event 5: `data: [DONE]` before the end"),
    # sequence numbers
    "sequence not from 0": (with_(GOOD_STREAM, 0, sequence_number=1), "event 0: sequence_number 1, expected 0"),
    "sequence gap": (with_(GOOD_STREAM, 7, sequence_number=9), "event 7: sequence_number 9 after 6, expected 7"),
    # the response lifecycle
    "created not first": (without(GOOD_STREAM, 0), "the first event must be response.created"),
    "created twice": (with_(GOOD_STREAM, 1, type="response.created"), "event 1: response.created sent again"),
    "response id changes": (with_(GOOD_STREAM, 1, response=response("in_progress", [], id="resp_2")),
                            "event 1: response.id changed from 'resp_1' to 'resp_2'"),
    "bad lifecycle response": (with_(GOOD_STREAM, 1, response=response("in_progress", [], object="thread")),
                               "event 1.response.object"),
    "error event": (inserted(GOOD_STREAM, 16, ev("error", code="server_error", message="boom")),
                    "event 16: stream-level error (server_error): 'boom'"),
    # items and parts
    "event before its item": (without(GOOD_STREAM, 9),
                              "response.content_part.added for output_index 1 before its response.output_item.added"),
    "delta before its part": (without(GOOD_STREAM, 10),
                              "event 10: response.output_text.delta before response.content_part.added for "
                              "output_index 1 content_index 0"),
    "summary delta before its part": (without(GOOD_STREAM, 3), "before response.reasoning_summary_part.added"),
    "part added twice": (inserted(GOOD_STREAM, 11, GOOD_STREAM[10]), "response.content_part.added for output_index 1 "
                                                                     "content_index 0 again"),
    "part index not from 0": ([with_(GOOD_STREAM, i, content_index=1)[i] if 10 <= i <= 14 else f
                               for i, f in enumerate(GOOD_STREAM)], "event 10: response.content_part.added for "
                              "output_index 1 content_index 1, expected content_index 0"),
    "delta into another part type": (with_(GOOD_STREAM, 10, part={"type": "refusal", "refusal": ""}),
                                     "response.output_text.delta on a 'refusal' part"),
    "arguments on a message": (inserted(GOOD_STREAM, 11, ev("response.function_call_arguments.delta", item_id="msg_1",
                                                            output_index=1, delta="")),
                               "on a 'message' item (output_index 1), expected a function_call"),
    "item_id differs": (with_(GOOD_STREAM, 11, item_id="msg_2"), "event 11: item_id 'msg_2' is not the id 'msg_1'"),
    "text deltas differ from done": (with_(GOOD_STREAM, 13, text="Hello!"),
                                     "event 13: response.output_text.done text 'Hello!' != concatenated deltas "
                                     "'Hello' (output_index 1 content_index 0)"),
    "summary deltas differ from done": (with_(GOOD_STREAM, 6, text="Greet."),
                                        "response.reasoning_summary_text.done text 'Greet.' != concatenated deltas"),
    "delta after text done": (inserted(GOOD_STREAM, 14, _EMPTY_DELTA), "event 14: response.output_text.delta after "
                                                                       "response.output_text.done (event 13)"),
    "part done before text done": (without(GOOD_STREAM, 13), "before its text's .done event"),
    "part done text differs": (with_(GOOD_STREAM, 14, part={**MESSAGE["content"][0], "text": "Help"}),
                               "response.content_part.done part text 'Help' != streamed text 'Hello'"),
    "part never closed": (without(GOOD_STREAM, 14), "while output_index 1 content_index 0 is still open"),
    "delta after item done": (inserted(GOOD_STREAM, 16, _EMPTY_DELTA),
                              "event 16: response.output_text.delta for output_index 1 after its "
                              "response.output_item.done (event 15)"),
    "output_index reused": (inserted(GOOD_STREAM, 16, GOOD_STREAM[2]), "event 16: output_index 0 reused"),
    "done item is another item": (with_(GOOD_STREAM, 15, item={**MESSAGE, "id": "msg_2"}),
                                  "response.output_item.done for output_index 1 is 'message' id 'msg_2'"),
    "done item text differs": (with_(GOOD_STREAM, 15, item=_set(MESSAGE, ("content", 0, "text"), "Help")),
                               "response.output_item.done item has 'Help' at output_index 1 content_index 0, "
                               "but 'Hello' was streamed"),
    "item never done": (without(GOOD_STREAM, 15), "output_index 1 was added (event 9) but never finished"),
    # the terminal event
    "no terminal": (GOOD_STREAM[:-1], "stream: no terminal event"),
    "two terminals": (GOOD_STREAM + [GOOD_STREAM[-1]], "stream: 2 terminal events (at events 16, 17)"),
    "terminal not last": (inserted(GOOD_STREAM, 17, GOOD_STREAM[1]),
                          "event 16: response.completed is not the last event ('response.in_progress' follows"),
    "terminal status differs": (with_(GOOD_STREAM, 16, response=response("in_progress")),
                                "response.completed carries response.status 'in_progress', expected 'completed'"),
    "terminal response shape": (with_(GOOD_STREAM, 16, response=_set(BODY, ("usage", "total_tokens"), 10)),
                                "event 16.response.usage.total_tokens: 10 != input_tokens"),
    "terminal output misses an item": (with_(GOOD_STREAM, 16, response=response(output=[MESSAGE])),
                                       "response.output has 1 items, but response.output_item.done finished 2"),
    "terminal output differs": (with_(GOOD_STREAM, 16, response=response(output=[
                                    REASONING, _set(MESSAGE, ("content", 0, "text"), "Bye")])),
                                "event 16: response.output[1] is 'message' id 'msg_1' text 'Bye', but "
                                "response.output_item.done (event 15) gave 'message' id 'msg_1' text 'Hello'"),
}

CALL_STREAM_BREAKS = {
    "arguments deltas differ from done": (with_(CALL_STREAM, 11, arguments="{}"),
                                          "response.function_call_arguments.done arguments '{}' != concatenated"),
    "arguments never done": (without(CALL_STREAM, 11), "output_index 1 before response.function_call_arguments.done"),
    "raw reasoning deltas differ from done": (with_(CALL_STREAM, 5, text="Rome."),
                                              "response.reasoning_text.done text 'Rome.' != concatenated deltas"),
    "empty call_id": (with_(CALL_STREAM, 13, response=response(output=[RAW_REASONING, {**CALL, "call_id": ""}])),
                      "event 13.response.output[1].call_id: empty"),
    "done call is another call": (with_(CALL_STREAM, 12, item={**CALL, "call_id": "call_2"}),
                                  "is 'function_call' id 'fc_1' call_id 'call_2', but 'function_call' id 'fc_1' "
                                  "call_id 'call_1' was added"),
}


@pytest.mark.parametrize("name", list(STREAM_BREAKS) + list(CALL_STREAM_BREAKS))
def test_each_stream_rule_can_fail(name: str) -> None:
    frames, expected = STREAM_BREAKS.get(name) or CALL_STREAM_BREAKS[name]
    problems = WIRE.stream_problems(exchange(frames), request())
    assert any(expected in p for p in problems), problems


def test_one_broken_item_is_reported_once() -> None:
    # Without the message's output_item.added, every later event of output_index 1 is orphaned.
    problems = WIRE.stream_problems(exchange(without(GOOD_STREAM, 9)), request())
    assert sum("before its response.output_item.added" in p for p in problems) == 1, problems


def test_stream_content_type_and_empty_stream() -> None:
    assert any("content-type" in p for p in WIRE.stream_problems(exchange(GOOD_STREAM, "application/json"), request()))
    assert WIRE.stream_problems(exchange([]), request()) == ["stream: no events at all"]
    ex = exchange(GOOD_STREAM)
    ex.sse_incomplete = True
    assert any("middle of an event" in p for p in WIRE.stream_problems(ex, request()))


def test_body_maps_turns_and_canonical_parameters_to_wire_names() -> None:
    turns = [Turn("system", "Be brief."), Turn("user", "hi"), Turn("assistant", "Hello"), Turn("user", "bye")]
    body = WIRE.body(ChatRequest(turns, params={"max_tokens": 5, "reasoning_effort": "low"}, stream=True,
                                 include_usage=True))
    assert body == {"model": "gemma-4-e4b", "instructions": "Be brief.",
                    "input": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"},
                              {"role": "user", "content": "bye"}],
                    "stream": True, "max_output_tokens": 5, "reasoning": {"effort": "low"}}
    assert "instructions" not in WIRE.body(ChatRequest([Turn("user", "hi")]))


def test_error_problems_name_the_parameter() -> None:
    ex = Exchange("responses", "u", {}, False, status=400, headers={"content-type": "application/json"},
                  body=json.dumps({"error": {"message": "bad value", "type": "invalid_request_error",
                                             "param": None}}).encode())
    assert any("temperature" in p for p in WIRE.error_problems(ex, status=400, param="temperature"))
    ex.body = json.dumps({"error": {"message": "temperature: 3 is outside 0..2", "type": "invalid_request_error",
                                    "param": "temperature"}}).encode()
    assert WIRE.error_problems(ex, status=400, param="temperature") == []
    assert any("status" in p for p in WIRE.error_problems(ex, status=422, param="temperature"))
