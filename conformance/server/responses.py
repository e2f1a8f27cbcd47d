"""POST /v1/responses: the OpenAI Responses wire format (WIRE.md §B).

Only the protocol lives here: how ``input``, ``instructions``, flat function ``tools``,
``tool_choice`` and ``text.format`` are spelled, and how a neutral `Answer` becomes a
``response`` object or a typed-event stream. With thinking on, the output starts with a
``reasoning`` item (the reasoning text as its one summary part); then comes either the
``message`` item or, when the model calls a tool, a ``function_call`` item (``fc_`` id,
``call_`` call_id) whose arguments stream as ``response.function_call_arguments.delta`` events.
A ``function_call_output`` input item must answer a ``function_call`` item earlier in the input
(there is no stored state: ``previous_response_id`` is not served). ``max_output_tokens``
cutting the answer makes the response ``incomplete``. Validation, generation, token counting,
latency and billing are shared with the other endpoints (see `conformance.server.completion`
for why the same conversation gives the same answer everywhere).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.server.completion import (
    Answer,
    CallBook,
    Dialect,
    Frame,
    PartReader,
    canonical_arguments,
    deliver,
    generate_answer,
    image_field,
    read_content,
    read_parallel_flag,
    read_stream_flag,
    require_string,
    sse_frame,
    text_field,
)
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.state import ServerState, new_id
from conformance.server.structured import parse_text_format_responses
from conformance.server.tools import (
    CHAT_CALL_PREFIX,
    parse_responses_tool_choice,
    parse_responses_tools,
)
from conformance.server.validation import (
    CalledTool,
    Conversation,
    Message,
    describe,
    parse_json_body,
    validate_request,
)

ENDPOINT = "responses"
DIALECT = Dialect(ENDPOINT, "resp_", CHAT_CALL_PREFIX, "text.format")
ROLES = ("user", "assistant", "system", "developer")
IMAGE_DETAILS = ("low", "high", "auto", "original")
TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete"}


# ----------------------------------------------------------------------------- request side


def _input_image(part: Mapping[str, Any], where: str) -> tuple[Any, str]:
    detail = part.get("detail")
    if detail is not None and detail not in IMAGE_DETAILS:
        raise RequestRejected(400, f"{where}.detail: {describe(detail)} is not one of {', '.join(IMAGE_DETAILS)}",
                              f"{where}.detail", "invalid_value")
    if part.get("image_url") is None and part.get("file_id") is not None:
        raise RequestRejected(400, f"{where}.file_id: uploaded files are not served here (no Files API); send the "
                                   f"image as image_url", f"{where}.file_id", "unsupported_value")
    return require_string(part, "image_url", where), f"{where}.image_url"


_TEXT: dict[str, PartReader] = {"input_text": text_field("text")}
# Images only on user turns; replayed assistant turns carry what the model produced.
_PARTS: dict[str, dict[str, PartReader]] = {
    "user": {**_TEXT, "input_image": image_field(_input_image)},
    "system": _TEXT, "developer": _TEXT,
    "assistant": {"output_text": text_field("text"), "refusal": text_field("refusal")},
}


def _message_item(raw: Mapping[str, Any], where: str) -> Message:
    role = raw.get("role")
    if role not in ROLES:
        raise RequestRejected(400, f"{where}.role: {describe(role)} is not one of {', '.join(ROLES)}",
                              f"{where}.role", "invalid_value")
    if raw.get("content") is None:
        raise RequestRejected(400, f"{where}.content: required", f"{where}.content", "missing_required_parameter")
    read = read_content(raw["content"], f"{where}.content", _PARTS[role])
    return Message(role, read.text, read.images)


def _read_items(raw: list[Any]) -> list[Message]:
    out: list[Message] = []
    book = CallBook()
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, Mapping):
            raise RequestRejected(400, f"{where}: expected an input item object, got {describe(item)}", where,
                                  "invalid_type")
        kind = item.get("type", "message")
        if kind == "reasoning":
            continue  # replayed reasoning: the model does not re-read its thoughts
        if kind == "message":
            out.append(_message_item(item, where))
        elif kind == "function_call":
            call = CalledTool(require_string(item, "call_id", where), require_string(item, "name", where),
                              canonical_arguments(require_string(item, "arguments", where)))
            book.called([call.id])
            if out and out[-1].role == "assistant":
                # A call following the assistant's text (or another call) belongs to that same turn.
                out[-1] = dataclasses.replace(out[-1], tool_calls=out[-1].tool_calls + (call,))
            else:
                out.append(Message("assistant", "", tool_calls=(call,)))
        elif kind == "function_call_output":
            book.answer(require_string(item, "call_id", where), f"{where}.call_id",
                        "a function_call item earlier in input")
            if item.get("output") is None:
                raise RequestRejected(400, f"{where}.output: required", f"{where}.output",
                                      "missing_required_parameter")
            # A result may show pictures (WIRE.md B.3): they count and are looked at like a user's.
            result = read_content(item["output"], f"{where}.output", _PARTS["user"])
            out.append(Message("tool", result.text, result.images))
        else:
            raise RequestRejected(400, f"{where}.type: {describe(kind)} items are not supported by this server "
                                       f"(only message, reasoning, function_call and function_call_output)",
                                  f"{where}.type", "unsupported_value")
    return out


def _text_format(body: Mapping[str, Any]) -> Any:
    text = body.get("text")
    if text is None:
        return None
    if not isinstance(text, Mapping):
        raise RequestRejected(400, f"text: expected an object, got {describe(text)}", "text", "invalid_type")
    return text.get("format")


def read_conversation(body: Mapping[str, Any]) -> Conversation:
    """The Responses spelling: ``instructions`` is the system prompt, ``input`` a string or items."""
    messages: list[Message] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise RequestRejected(400, f"instructions: expected a string, got {describe(instructions)}",
                                  "instructions", "invalid_type")
        messages.append(Message("system", instructions))
    raw = body.get("input")
    if raw is None:
        raise RequestRejected(400, "input: you must provide an input parameter", "input", "missing_required_parameter")
    if isinstance(raw, str):
        messages.append(Message("user", raw))
    elif isinstance(raw, list) and raw:
        messages += _read_items(raw)
    else:
        raise RequestRejected(400, f"input: expected a string or a non-empty array of input items, "
                                   f"got {describe(raw)}", "input", "invalid_type")
    read_parallel_flag(body)
    tools = tuple(parse_responses_tools(body.get("tools")))
    return Conversation(tuple(messages), read_stream_flag(body), tools=tools,
                        tool_choice=parse_responses_tool_choice(body.get("tool_choice"), tools),
                        output_format=parse_text_format_responses(_text_format(body)))


# ----------------------------------------------------------------------------- response side


@dataclass(frozen=True)
class ResponseAnswer:
    """An `Answer` with the ids and echoed settings of its ``response`` object."""

    answer: Answer
    body: Mapping[str, Any]  # the request, for the settings a response echoes
    reasoning_id: str = field(default_factory=lambda: new_id("rs_"))
    message_id: str = field(default_factory=lambda: new_id("msg_"))

    @property
    def thinking(self) -> bool:
        return self.answer.request.sampling.thinking

    @property
    def status(self) -> str:
        return "incomplete" if self.answer.generation.finish_reason == "length" else "completed"

    def usage(self) -> dict[str, Any]:
        a = self.answer
        total = a.input_tokens + a.output_tokens + (1 if "responses_usage_total" in a.faults else 0)
        return {
            # openai 3.57's Response model requires cache_write_tokens: without it the SDK refuses the body.
            "input_tokens": a.input_tokens, "input_tokens_details": (
                {"cached_tokens": 0} if "responses_sdk_usage" in a.faults else {"cached_tokens": 0, "cache_write_tokens": 0}),
            "output_tokens": a.output_tokens,
            "output_tokens_details": {"reasoning_tokens": a.generation.reasoning_tokens},
            "total_tokens": total,
        }

    def reasoning_item(self, summary: str | None) -> dict[str, Any]:
        """The reasoning item: `summary` None is its in-progress skeleton."""
        parts = [] if summary is None else [_summary_part(summary)]
        return {"id": self.reasoning_id, "type": "reasoning", "summary": parts,
                "status": "in_progress" if summary is None else "completed"}

    def message_item(self, text: str | None) -> dict[str, Any]:
        """The message item: `text` None is its in-progress skeleton."""
        if text is None:
            return {"id": self.message_id, "type": "message", "status": "in_progress", "role": "assistant",
                    "content": []}
        return {"id": self.message_id, "type": "message", "status": self.status, "role": "assistant",
                "content": [_text_part(text)]}

    def call_item(self, *, done: bool) -> dict[str, Any]:
        """The function_call item; not done, it is the in-progress skeleton with no arguments yet."""
        call = self.answer.tool_call
        assert call is not None
        return {"id": call.item_id, "type": "function_call", "status": "completed" if done else "in_progress",
                "arguments": call.arguments if done else "", "call_id": call.id, "name": call.name}

    def output(self) -> list[dict[str, Any]]:
        items = [self.reasoning_item(self.answer.generation.reasoning_text)] if self.thinking else []
        if self.answer.tool_call is not None:
            return items + [self.call_item(done=True)]
        return items + [self.message_item(self.answer.generation.text)]

    def response(self, *, finished: bool) -> dict[str, Any]:
        """The ``response`` object (WIRE.md B.6); unfinished, it is the in-progress snapshot of a stream."""
        a, given = self.answer, self.answer.request.given
        reasoning = self.body.get("reasoning")
        return {
            "id": a.id, "object": "response", "created_at": a.created,
            "status": self.status if finished else "in_progress",
            "background": False, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if finished and self.status == "incomplete" else None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": given.get("max_tokens"),
            "model": a.model,
            "output": self.output() if finished else [],
            "parallel_tool_calls": self.body.get("parallel_tool_calls") is not False,
            "previous_response_id": None,
            "reasoning": {"effort": given.get("reasoning_effort"),
                          "summary": reasoning.get("summary") if isinstance(reasoning, Mapping) else None},
            "store": False,  # nothing is kept: there is no GET /v1/responses/{id}
            "temperature": a.request.sampling.temperature, "top_p": a.request.sampling.top_p,
            "text": {"format": _text_format(self.body) or {"type": "text"}},
            "tool_choice": self.body.get("tool_choice") or "auto", "tools": self.body.get("tools") or [],
            "truncation": "disabled",
            "usage": self.usage() if finished else None,
            "metadata": {},
        }


def _summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def stream_events(r: ResponseAnswer) -> list[dict[str, Any]]:
    """The stream's events in order, each with its ``sequence_number`` (WIRE.md B.9.1)."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, **fields})

    emit("response.created", response=r.response(finished=False))
    emit("response.in_progress", response=r.response(finished=False))
    n = 0
    if r.thinking:
        where = {"item_id": r.reasoning_id, "output_index": n, "summary_index": 0}
        reasoning = r.answer.generation.reasoning_text
        emit("response.output_item.added", output_index=n, item=r.reasoning_item(None))
        emit("response.reasoning_summary_part.added", **where, part=_summary_part(""))
        for token in r.answer.generation.reasoning:
            emit("response.reasoning_summary_text.delta", **where, delta=token.text)
        emit("response.reasoning_summary_text.done", **where, text=reasoning)
        emit("response.reasoning_summary_part.done", **where, part=_summary_part(reasoning))
        emit("response.output_item.done", output_index=n, item=r.reasoning_item(reasoning))
        n += 1
    call = r.answer.tool_call
    part_added = None
    if call is not None:
        where = {"item_id": call.item_id, "output_index": n}
        emit("response.output_item.added", output_index=n, item=r.call_item(done=False))
        for piece in call.fragments():
            emit("response.function_call_arguments.delta", **where, delta=piece)
        emit("response.function_call_arguments.done", **where, arguments=call.arguments, name=call.name)
        emit("response.output_item.done", output_index=n, item=r.call_item(done=True))
    else:
        where = {"item_id": r.message_id, "output_index": n, "content_index": 0}
        text = r.answer.generation.text
        emit("response.output_item.added", output_index=n, item=r.message_item(None))
        part_added = len(events)
        emit("response.content_part.added", **where, part=_text_part(""))
        for token in r.answer.generation.answer:
            emit("response.output_text.delta", **where, delta=token.text, logprobs=[])
        emit("response.output_text.done", **where, text=text, logprobs=[])
        emit("response.content_part.done", **where, part=_text_part(text))
        emit("response.output_item.done", output_index=n, item=r.message_item(text))
    emit(TERMINAL[r.status], response=r.response(finished=True))

    faults = r.answer.faults
    if ("responses_delta_before_added" in faults and part_added is not None
            and events[part_added + 1]["type"] == "response.output_text.delta"):
        events[part_added], events[part_added + 1] = events[part_added + 1], events[part_added]
    if "responses_no_terminal" in faults:
        events.pop()
    skipped = 3 if "responses_bad_sequence" in faults else len(events)  # a gap right after the first item opens
    return [{"type": event["type"], "sequence_number": k if k < skipped else k + 1,
             **{key: value for key, value in event.items() if key != "type"}}
            for k, event in enumerate(events)]


def stream_frames(r: ResponseAnswer) -> list[Frame]:
    # Each frame names its event: the OpenAI SDK reads data.type, other clients route on `event:`.
    return [sse_frame(event, event["type"], token=event["type"].endswith(".delta")) for event in stream_events(r)]


async def create_response(request: Request, state: ServerState, faults: Faults) -> Response:
    body = parse_json_body(await request.body())
    validated = validate_request(body, state.contract, ENDPOINT, read_conversation, faults)
    result = ResponseAnswer(generate_answer(validated, state, faults, DIALECT), body)
    return await deliver(state, DIALECT, result.answer, lambda: result.response(finished=True),
                         lambda: stream_frames(result))
