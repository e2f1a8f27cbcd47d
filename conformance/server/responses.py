"""POST /v1/responses: the OpenAI Responses wire format (WIRE.md §B).

Only the protocol lives here: how ``input`` and ``instructions`` are spelled, and how a neutral
`Answer` becomes a ``response`` object or a typed-event stream. With thinking on, the output is a
``reasoning`` item (the reasoning text as its one summary part) followed by the ``message`` item;
``max_output_tokens`` cutting the answer makes the response ``incomplete``.
Validation, generation, token counting and billing are shared with the other endpoints (see
`conformance.server.completion` for why the same conversation gives the same text everywhere).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.server.completion import (
    Answer,
    PartReader,
    content_text,
    generate_answer,
    read_stream_flag,
    sse_frame,
    sse_response,
    text_field,
)
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.state import ServerState, new_id
from conformance.server.validation import (
    Conversation,
    Message,
    describe,
    parse_json_body,
    validate_request,
)

ENDPOINT = "responses"
ROLES = ("user", "assistant", "system", "developer")
IMAGE_DETAILS = ("low", "high", "auto", "original")
TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete"}


# ----------------------------------------------------------------------------- request side


def _input_image(part: Mapping[str, Any], where: str) -> None:
    # Either a URL (https or data:) or an uploaded file id; checked for shape only: the toy model reads no pixels.
    if not any(isinstance(part.get(key), str) for key in ("image_url", "file_id")):
        raise RequestRejected(400, f"{where}: an input_image needs a string image_url or file_id",
                              f"{where}.image_url", "missing_required_parameter")
    detail = part.get("detail")
    if detail is not None and detail not in IMAGE_DETAILS:
        raise RequestRejected(400, f"{where}.detail: {describe(detail)} is not one of {', '.join(IMAGE_DETAILS)}",
                              f"{where}.detail", "invalid_value")


_INPUT_PARTS: dict[str, PartReader] = {
    "input_text": text_field("text"),
    "input_image": _input_image,
}
# Replayed assistant turns carry what the model produced.
_OUTPUT_PARTS: dict[str, PartReader] = {
    "output_text": text_field("text"),
    "refusal": text_field("refusal"),
}


def _input_item(raw: Any, i: int) -> Message | None:
    where = f"input[{i}]"
    if not isinstance(raw, Mapping):
        raise RequestRejected(400, f"{where}: expected an input item object, got {describe(raw)}", where,
                              "invalid_type")
    kind = raw.get("type", "message")
    if kind == "reasoning":
        return None  # replayed reasoning: the model does not re-read its thoughts
    if kind != "message":
        raise RequestRejected(400, f"{where}.type: {describe(kind)} items are not supported by this server "
                                   f"(only message and reasoning)", f"{where}.type", "unsupported_value")
    role = raw.get("role")
    if role not in ROLES:
        raise RequestRejected(400, f"{where}.role: {describe(role)} is not one of {', '.join(ROLES)}",
                              f"{where}.role", "invalid_value")
    if raw.get("content") is None:
        raise RequestRejected(400, f"{where}.content: required", f"{where}.content", "missing_required_parameter")
    parts = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
    return Message(role, content_text(raw["content"], f"{where}.content", parts))


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
        messages += [m for i, item in enumerate(raw) if (m := _input_item(item, i)) is not None]
    else:
        raise RequestRejected(400, f"input: expected a string or a non-empty array of input items, "
                                   f"got {describe(raw)}", "input", "invalid_type")
    return Conversation(tuple(messages), read_stream_flag(body))


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
            "input_tokens": a.input_tokens, "input_tokens_details": {"cached_tokens": 0},
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

    def output(self) -> list[dict[str, Any]]:
        items = [self.reasoning_item(self.answer.generation.reasoning_text)] if self.thinking else []
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
            "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": given.get("reasoning_effort"),
                          "summary": reasoning.get("summary") if isinstance(reasoning, Mapping) else None},
            "store": False,  # nothing is kept: there is no GET /v1/responses/{id}
            "temperature": a.request.sampling.temperature, "top_p": a.request.sampling.top_p,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
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
    if "responses_delta_before_added" in faults and events[part_added + 1]["type"] == "response.output_text.delta":
        events[part_added], events[part_added + 1] = events[part_added + 1], events[part_added]
    if "responses_no_terminal" in faults:
        events.pop()
    skipped = 3 if "responses_bad_sequence" in faults else len(events)  # a gap right after the first item opens
    return [{"type": event["type"], "sequence_number": k if k < skipped else k + 1,
             **{key: value for key, value in event.items() if key != "type"}}
            for k, event in enumerate(events)]


def stream_frames(r: ResponseAnswer) -> list[bytes]:
    # Each frame names its event: the OpenAI SDK reads data.type, other clients route on `event:`.
    return [sse_frame(event, event["type"]) for event in stream_events(r)]


async def create_response(request: Request, state: ServerState, faults: Faults) -> Response:
    body = parse_json_body(await request.body())
    validated = validate_request(body, state.contract, ENDPOINT, read_conversation, faults)
    result = ResponseAnswer(generate_answer(validated, state, faults, "resp_"), body)
    if not validated.stream:
        state.ledger.record_message(ENDPOINT, result.answer.id)
        return Response(json.dumps(result.response(finished=True), ensure_ascii=False),
                        media_type="application/json")
    return sse_response(stream_frames(result), lambda: state.ledger.record_message(ENDPOINT, result.answer.id))
