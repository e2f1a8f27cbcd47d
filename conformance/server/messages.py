"""POST /v1/messages: the Anthropic Messages wire format (WIRE.md §C).

Only the protocol lives here: how ``system`` and ``messages`` are spelled, the required
``max_tokens``, and how a neutral `Answer` becomes a ``message`` object or a named-event stream.
With thinking on, the content starts with a ``thinking`` block whose ``signature`` is a keyed
digest of its text, so a client replaying the block must send it back unmodified (checked).
Thinking tokens count as output tokens, as on the real API.
Validation, generation, token counting and billing are shared with the other endpoints (see
`conformance.server.completion` for why the same conversation gives the same text everywhere).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.server.completion import (
    Answer,
    PartReader,
    content_text,
    generate_answer,
    read_stream_flag,
    require_string,
    sse_frame,
    sse_response,
    text_field,
)
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.state import ServerState
from conformance.server.validation import (
    Conversation,
    Message,
    describe,
    parse_json_body,
    validate_request,
)
from conformance.suite.model import Contract

ENDPOINT = "messages"
ROLES = ("user", "assistant")
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence"}
_SIGNATURE_KEY = b"conformance-reference-thinking"


def sign_thinking(thinking: str) -> str:
    """The signature of a thinking block: stable, opaque, and tied to the exact text."""
    digest = hashlib.blake2b(thinking.encode("utf-8"), key=_SIGNATURE_KEY, digest_size=32).digest()
    return base64.b64encode(digest).decode("ascii")


# ----------------------------------------------------------------------------- request side


def _image(block: Mapping[str, Any], where: str) -> None:
    # Checked for shape only: the toy model reads no pixels.
    source = block.get("source")
    here = f"{where}.source"
    if not isinstance(source, Mapping):
        raise RequestRejected(400, f"{here}: expected an object, got {describe(source)}", here, "invalid_type")
    kind = source.get("type")
    if kind == "base64":
        media_type = source.get("media_type")
        if media_type not in IMAGE_MEDIA_TYPES:
            raise RequestRejected(400, f"{here}.media_type: {describe(media_type)} is not one of "
                                       f"{', '.join(IMAGE_MEDIA_TYPES)}", f"{here}.media_type", "invalid_value")
        require_string(source, "data", here)
    elif kind in ("url", "file"):
        require_string(source, "url" if kind == "url" else "file_id", here)
    else:
        raise RequestRejected(400, f"{here}.type: {describe(kind)} is not one of base64, url, file",
                              f"{here}.type", "invalid_value")


def _thinking(block: Mapping[str, Any], where: str) -> None:
    # The real API refuses a replayed thinking block whose text or signature was altered. The text itself
    # adds nothing to the prompt: the model does not re-read its thoughts.
    thinking = require_string(block, "thinking", where)
    signature = require_string(block, "signature", where)
    if not hmac.compare_digest(signature, sign_thinking(thinking)):
        raise RequestRejected(400, f"{where}.signature: invalid signature for this thinking block "
                                   f"(replay thinking blocks unmodified)", f"{where}.signature", "invalid_value")


def _redacted_thinking(block: Mapping[str, Any], where: str) -> None:
    require_string(block, "data", where)


_BLOCKS: dict[str, dict[str, PartReader]] = {
    "user": {"text": text_field("text"), "image": _image},
    "assistant": {"text": text_field("text"), "thinking": _thinking, "redacted_thinking": _redacted_thinking},
}


def _message(raw: Any, i: int) -> Message:
    where = f"messages[{i}]"
    if not isinstance(raw, Mapping):
        raise RequestRejected(400, f"{where}: expected a message object, got {describe(raw)}", where, "invalid_type")
    role = raw.get("role")
    if role not in ROLES:
        raise RequestRejected(400, f"{where}.role: {describe(role)} is not one of {', '.join(ROLES)} "
                                   f"(the system prompt is the top-level system field)", f"{where}.role",
                              "invalid_value")
    if raw.get("content") is None:
        raise RequestRejected(400, f"{where}.content: required", f"{where}.content", "missing_required_parameter")
    return Message(role, content_text(raw["content"], f"{where}.content", _BLOCKS[role]))


def read_conversation(body: Mapping[str, Any], contract: Contract) -> Conversation:
    """The Messages spelling: a top-level ``system``, user/assistant ``messages``, a required max_tokens."""
    # The protocol requires the output cap; its wire name comes from the contract like every other.
    cap = contract.parameters["max_tokens"].binding(ENDPOINT).wire_name
    if cap is not None and body.get(cap) is None:
        raise RequestRejected(400, f"{cap}: field required", cap, "missing_required_parameter")
    out: list[Message] = []
    system = body.get("system")
    if system is not None:
        out.append(Message("system", content_text(system, "system", {"text": text_field("text")})))
    messages = body.get("messages")
    if messages is None:
        raise RequestRejected(400, "messages: field required", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise RequestRejected(400, f"messages: expected a non-empty array, got {describe(messages)}", "messages",
                              "invalid_type" if not isinstance(messages, list) else "invalid_value")
    out += [_message(m, i) for i, m in enumerate(messages)]
    return Conversation(tuple(out), read_stream_flag(body))


# ----------------------------------------------------------------------------- response side


@dataclass(frozen=True)
class MessageAnswer:
    """An `Answer` in the Messages vocabulary."""

    answer: Answer

    @property
    def thinking(self) -> bool:
        return self.answer.request.sampling.thinking

    @property
    def stop_reason(self) -> str | None:
        if "messages_null_stop_reason" in self.answer.faults:
            return None
        return STOP_REASONS[self.answer.generation.finish_reason]

    @property
    def stop_sequence(self) -> str | None:
        return self.answer.generation.stop_sequence

    def usage(self, *, finished: bool = True) -> dict[str, Any]:
        """Token counts; unfinished (``message_start``), nothing has been generated yet."""
        usage: dict[str, Any] = {
            "input_tokens": self.answer.input_tokens, "output_tokens": self.answer.output_tokens if finished else 0,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        }
        if finished:
            usage["output_tokens_details"] = {"thinking_tokens": self.answer.generation.reasoning_tokens}
        return usage

    def message(self, *, finished: bool) -> dict[str, Any]:
        """The ``message`` object (WIRE.md C.6); unfinished, it is what ``message_start`` carries."""
        a = self.answer
        content: list[dict[str, Any]] = []
        if finished:
            if self.thinking:
                thinking = a.generation.reasoning_text
                content.append({"type": "thinking", "thinking": thinking, "signature": sign_thinking(thinking)})
            content.append({"type": "text", "text": a.generation.text})
        return {
            "id": a.id, "type": "message", "role": "assistant", "model": a.model, "content": content,
            "stop_reason": self.stop_reason if finished else None,
            "stop_sequence": self.stop_sequence if finished else None,
            "usage": self.usage(finished=finished),
        }


def stream_events(m: MessageAnswer) -> list[dict[str, Any]]:
    """The stream's events in order (WIRE.md C.7); each frame's ``event:`` line is its type."""
    generation = m.answer.generation
    events: list[dict[str, Any]] = [{"type": "message_start", "message": m.message(finished=False)},
                                    {"type": "ping"}]

    def block(index: int, skeleton: dict[str, Any], deltas: list[dict[str, Any]], *, started: bool = True) -> None:
        if started:
            events.append({"type": "content_block_start", "index": index, "content_block": skeleton})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})

    if m.thinking:
        # The signature comes last, in one piece, right before the block stops.
        block(0, {"type": "thinking", "thinking": "", "signature": ""},
              [{"type": "thinking_delta", "thinking": t.text} for t in generation.reasoning]
              + [{"type": "signature_delta", "signature": sign_thinking(generation.reasoning_text)}])
    block(1 if m.thinking else 0, {"type": "text", "text": ""},
          [{"type": "text_delta", "text": t.text} for t in generation.answer],
          started="messages_delta_unstarted_block" not in m.answer.faults)
    usage = m.usage()
    # Counts on message_delta are cumulative totals: the final output count, not an increment.
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": m.stop_reason, "stop_sequence": m.stop_sequence},
                   "usage": {key: usage[key] for key in ("output_tokens", "output_tokens_details")}})
    if "messages_no_message_stop" not in m.answer.faults:
        events.append({"type": "message_stop"})
    return events


def stream_frames(m: MessageAnswer) -> list[bytes]:
    faults = m.answer.faults
    named = "messages_no_event_lines" not in faults
    frames = [sse_frame(event, event["type"] if named else None) for event in stream_events(m)]
    if "messages_done_sentinel" in faults:
        frames.append(sse_frame("[DONE]"))
    return frames


async def create_message(request: Request, state: ServerState, faults: Faults) -> Response:
    body = parse_json_body(await request.body())
    validated = validate_request(body, state.contract, ENDPOINT, lambda b: read_conversation(b, state.contract),
                                 faults)
    result = MessageAnswer(generate_answer(validated, state, faults, "msg_"))
    if not validated.stream:
        state.ledger.record_message(ENDPOINT, result.answer.id)
        return Response(json.dumps(result.message(finished=True), ensure_ascii=False),
                        media_type="application/json")
    return sse_response(stream_frames(result), lambda: state.ledger.record_message(ENDPOINT, result.answer.id))
