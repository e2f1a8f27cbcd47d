"""POST /v1/messages: the Anthropic Messages wire format (WIRE.md §C).

Only the protocol lives here: how ``system``, ``messages``, ``tools`` (``input_schema``),
``tool_choice`` and ``output_config.format`` are spelled, the required ``max_tokens``, and how a
neutral `Answer` becomes a ``message`` object or a named-event stream. With thinking on, the
content starts with a ``thinking`` block whose ``signature`` is a keyed digest of its text, so a
client replaying the block must send it back unmodified (checked). A tool call is a
``tool_use`` block (``toolu_`` id, ``input`` object) with stop_reason ``tool_use``, streamed as
a skeleton with ``input: {}`` and then ``input_json_delta`` fragments; a ``tool_result`` block
must answer a ``tool_use`` block of the previous assistant turn. Images are ``image`` blocks in
user turns and tool results. Thinking tokens count as output tokens, as on the real API. Validation, generation,
token counting, latency and billing are shared with the other endpoints (see
`conformance.server.completion` for why the same conversation gives the same answer everywhere).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.server.completion import (
    Answer,
    CallBook,
    Content,
    Dialect,
    Frame,
    PartReader,
    canonical_arguments,
    compact_json,
    content_text,
    deliver,
    generate_answer,
    image_field,
    read_content,
    read_stream_flag,
    require_object,
    require_string,
    sse_frame,
    text_field,
)
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.state import ServerState
from conformance.server.structured import parse_output_format_messages
from conformance.server.tools import (
    ANTHROPIC_TOOL_USE_PREFIX,
    parse_anthropic_tool_choice,
    parse_anthropic_tools,
)
from conformance.server.validation import (
    CalledTool,
    Conversation,
    Message,
    describe,
    parse_json_body,
    validate_request,
)
from conformance.suite.model import Contract

ENDPOINT = "messages"
DIALECT = Dialect(ENDPOINT, "msg_", ANTHROPIC_TOOL_USE_PREFIX, "output_config.format")
ROLES = ("user", "assistant")
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence",
                "tool_calls": "tool_use"}
_SIGNATURE_KEY = b"conformance-reference-thinking"


def sign_thinking(thinking: str) -> str:
    """The signature of a thinking block: stable, opaque, and tied to the exact text."""
    digest = hashlib.blake2b(thinking.encode("utf-8"), key=_SIGNATURE_KEY, digest_size=32).digest()
    return base64.b64encode(digest).decode("ascii")


# ----------------------------------------------------------------------------- request side


def _image(block: Mapping[str, Any], where: str) -> tuple[Any, str]:
    return require_object(block, "source", where), f"{where}.source"


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


_TEXT: dict[str, PartReader] = {"text": text_field("text")}
# What a user turn and a tool result may hold besides tool results (WIRE.md C.3): text and images.
_USER: dict[str, PartReader] = {**_TEXT, "image": image_field(_image)}


def _user_turn(content: Any, where: str, book: CallBook) -> list[Message]:
    """A user turn: its tool results first, one tool message each, then the rest as a user message."""
    results: list[Message] = []

    def tool_result(block: Mapping[str, Any], here: str) -> None:
        book.answer(require_string(block, "tool_use_id", here), f"{here}.tool_use_id",
                    "the previous assistant turn")
        flag = block.get("is_error")
        if flag is not None and not isinstance(flag, bool):
            raise RequestRejected(400, f"{here}.is_error: expected a boolean, got {describe(flag)}",
                                  f"{here}.is_error", "invalid_type")
        inner = block.get("content")
        result = read_content(inner, f"{here}.content", _USER) if inner is not None else Content("")
        results.append(Message("tool", result.text, result.images))

    read = read_content(content, where, {**_USER, "tool_result": tool_result})
    if results and not read.text and not read.images:
        return results
    return results + [Message("user", read.text, read.images)]


def _assistant_turn(content: Any, where: str, book: CallBook) -> Message:
    calls: list[CalledTool] = []

    def tool_use(block: Mapping[str, Any], here: str) -> None:
        calls.append(CalledTool(require_string(block, "id", here), require_string(block, "name", here),
                                canonical_arguments(require_object(block, "input", here))))

    read = read_content(content, where, {**_TEXT, "thinking": _thinking, "redacted_thinking": _redacted_thinking,
                                         "tool_use": tool_use})
    book.called((c.id for c in calls), forget_earlier=True)
    return Message("assistant", read.text, tool_calls=tuple(calls))


def _turn(raw: Any, i: int, book: CallBook) -> list[Message]:
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
    if role == "user":
        return _user_turn(raw["content"], f"{where}.content", book)
    return [_assistant_turn(raw["content"], f"{where}.content", book)]


def read_conversation(body: Mapping[str, Any], contract: Contract) -> Conversation:
    """The Messages spelling: a top-level ``system``, user/assistant ``messages``, a required max_tokens."""
    # The protocol requires the output cap; its wire name comes from the contract like every other.
    cap = contract.parameters["max_tokens"].binding(ENDPOINT).wire_name
    if cap is not None and body.get(cap) is None:
        raise RequestRejected(400, f"{cap}: field required", cap, "missing_required_parameter")
    out: list[Message] = []
    system = body.get("system")
    if system is not None:
        out.append(Message("system", content_text(system, "system", _TEXT)))
    messages = body.get("messages")
    if messages is None:
        raise RequestRejected(400, "messages: field required", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise RequestRejected(400, f"messages: expected a non-empty array, got {describe(messages)}", "messages",
                              "invalid_type" if not isinstance(messages, list) else "invalid_value")
    book = CallBook()
    out += [message for i, m in enumerate(messages) for message in _turn(m, i, book)]
    tools = tuple(parse_anthropic_tools(body.get("tools")))
    # output_config.format is WIRE.md F's spelling of JSON-schema output here; the contract treats
    # structured output on /v1/messages as an assumption to confirm on a live run.
    return Conversation(tuple(out), read_stream_flag(body), tools=tools,
                        tool_choice=parse_anthropic_tool_choice(body.get("tool_choice"), tools),
                        output_format=parse_output_format_messages(body.get("output_config")))


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

    @property
    def has_text(self) -> bool:
        # A tool call comes without preamble text (as forced calls do on the real API).
        return self.answer.tool_call is None or bool(self.answer.generation.answer)

    def tool_use(self, *, finished: bool) -> dict[str, Any]:
        """The tool_use block; unfinished, its ``content_block_start`` skeleton with ``input: {}``."""
        call = self.answer.tool_call
        assert call is not None
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input if finished else {}}

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
            if self.has_text:
                content.append({"type": "text", "text": a.generation.text})
            if a.tool_call is not None:
                content.append(self.tool_use(finished=True))
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

    index = 0
    if m.thinking:
        # The signature comes last, in one piece, right before the block stops.
        block(index, {"type": "thinking", "thinking": "", "signature": ""},
              [{"type": "thinking_delta", "thinking": t.text} for t in generation.reasoning]
              + [{"type": "signature_delta", "signature": sign_thinking(generation.reasoning_text)}])
        index += 1
    if m.has_text:
        block(index, {"type": "text", "text": ""},
              [{"type": "text_delta", "text": t.text} for t in generation.answer],
              started="messages_delta_unstarted_block" not in m.answer.faults)
        index += 1
    call = m.answer.tool_call
    if call is not None:
        pieces = call.fragments(compact_json(call.input))
        block(index, m.tool_use(finished=False), [{"type": "input_json_delta", "partial_json": p} for p in pieces])
    usage = m.usage()
    # Counts on message_delta are cumulative totals: the final output count, not an increment.
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": m.stop_reason, "stop_sequence": m.stop_sequence},
                   "usage": {key: usage[key] for key in ("output_tokens", "output_tokens_details")}})
    if "messages_no_message_stop" not in m.answer.faults:
        events.append({"type": "message_stop"})
    return events


def stream_frames(m: MessageAnswer) -> list[Frame]:
    faults = m.answer.faults
    named = "messages_no_event_lines" not in faults
    frames = [sse_frame(event, event["type"] if named else None, token=event["type"] == "content_block_delta")
              for event in stream_events(m)]
    if "messages_done_sentinel" in faults:
        frames.append(sse_frame("[DONE]"))
    return frames


async def create_message(request: Request, state: ServerState, faults: Faults) -> Response:
    body = parse_json_body(await request.body())
    validated = validate_request(body, state.contract, ENDPOINT, lambda b: read_conversation(b, state.contract),
                                 faults)
    result = MessageAnswer(generate_answer(validated, state, faults, DIALECT))
    return await deliver(state, DIALECT, result.answer, lambda: result.message(finished=True),
                         lambda: stream_frames(result))
