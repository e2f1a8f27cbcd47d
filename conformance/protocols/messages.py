"""Anthropic Messages on the wire: request bodies, replies and the named-event stream grammar.

Rules from WIRE.md §C (C.2 request, C.6 body, C.7 streaming, C.8 errors), §D (SSE framing
mistakes) and the Anthropic list of F.1. The stop_reason enum and the id prefixes come from the
protocol suite file, so a suite edit changes what is accepted without touching this module.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conformance.protocols.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    FINISH_STOP_SEQUENCE,
    FINISH_TOOL,
    ChatRequest,
    Reply,
    ToolCall,
    ToolChoice,
    ToolDef,
    Turn,
    Usage,
    WireProtocol,
    schema_problems,
)
from conformance.transport.client import Exchange
from conformance.transport.sse import SSEEvent

DONE = "[DONE]"

# Which deltas may fill which block (WIRE.md C.7). Block types missing here (server tool
# results and types newer than this table) are not checked: the harness cannot know them.
DELTA_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("text_delta", "citations_delta"),
    "thinking": ("thinking_delta", "signature_delta"),
    "redacted_thinking": (),
    "tool_use": ("input_json_delta",),
    "server_tool_use": ("input_json_delta",),
}
TOOL_BLOCKS = ("tool_use", "server_tool_use")

# error.type → the status it comes with (WIRE.md C.8, including the newer rows).
ERROR_TYPES: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclass
class _Block:
    """What the grammar walk remembers of one content block."""

    type: str
    started_at: int
    stopped: bool = False
    signed: bool = False  # a signature_delta arrived: only the stop may follow it
    partial_json: list[str] = field(default_factory=list)


class Messages(WireProtocol):
    finish_kinds = {"end_turn": FINISH_STOP, "max_tokens": FINISH_LENGTH,
                    "stop_sequence": FINISH_STOP_SEQUENCE, "tool_use": FINISH_TOOL}
    sdk_model = ("anthropic.types", "Message")

    def base_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.contract.model,
            # Required by the protocol; the contract's own max_tokens, when given, overwrites it
            # because `body()` writes parameters after this.
            "max_tokens": self.contract.probe_max_tokens,
        }
        system = [t.text for t in request.turns if t.role == "system"]
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = [self._message(t) for t in request.turns if t.role != "system"]
        if request.stream:
            body["stream"] = True  # usage always rides on message_start/message_delta: no opt-in
        return body

    @staticmethod
    def _message(turn: Turn) -> dict[str, Any]:
        if turn.role == "tool":
            # Tool results ride in the next user turn (WIRE.md C).
            return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": turn.tool_call_id,
                                                 "content": turn.text}]}
        if turn.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.parsed()} for c in turn.tool_calls]
            return {"role": "assistant", "content": blocks}
        if turn.images:
            blocks = [{"type": "image", "source": {"type": "url", "url": i.url} if i.url else
                       {"type": "base64", "media_type": i.media_type, "data": i.data}} for i in turn.images]
            return {"role": turn.role, "content": blocks + [{"type": "text", "text": turn.text}]}
        return {"role": turn.role, "content": turn.text}

    def tool_def(self, tool: ToolDef) -> dict[str, Any]:
        return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}

    def tool_choice(self, choice: ToolChoice) -> Any:
        kinds = {"auto": "auto", "none": "none", "required": "any"}
        return {"type": "tool", "name": choice.name} if choice.mode == "named" else {"type": kinds[choice.mode]}

    def ask_json(self, body: dict[str, Any], schema: dict[str, Any]) -> None:
        # WIRE.md F: output_config.format; the contract treats Messages structured output as an assumption.
        body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}

    def is_content(self, event: SSEEvent) -> bool:
        if '"text_delta"' not in event.data:
            return False
        try:
            payload = json.loads(event.data)
            delta = payload["delta"]
            return (payload.get("type") == "content_block_delta" and delta.get("type") == "text_delta"
                    and bool(delta.get("text")))
        except (ValueError, AttributeError, TypeError, KeyError):
            return False

    def shape_problems(self, body: Any) -> list[str]:
        problems = schema_problems("message", body, "body")
        if problems:
            return problems
        problems += self._stop_problems("body", body["stop_reason"], body["stop_sequence"],
                                        [b["type"] for b in body["content"]], stream=False)
        prefix = self.protocol.id_prefixes.get("response")
        if prefix and not body["id"].startswith(prefix):
            problems.append(f"body.id: expected the prefix {prefix!r}, found {body['id']!r}")
        for i, block in enumerate(body["content"]):
            if block["type"] == "tool_use":
                problems += self._tool_id_problems(f"body.content[{i}].id", block["id"])
        return problems

    def _stop_problems(self, where: str, stop_reason: Any, stop_sequence: Any, block_types: list[str], *,
                       stream: bool) -> list[str]:
        """The stop_reason rules shared by a body and a stream's final message_delta."""
        if stop_reason is None:
            # A stream's missing stop_reason is reported by the message_delta count instead.
            return [] if stream else [f"{where}.stop_reason: must be non-null in a non-stream response"]
        problems = []
        if stop_reason not in self.protocol.finish_reasons:
            problems.append(f"{where}.stop_reason: {stop_reason!r} is not one of "
                            f"{', '.join(self.protocol.finish_reasons)}")
        if stop_reason == "stop_sequence" and stop_sequence is None:
            problems.append(f"{where}.stop_sequence: stop_reason is 'stop_sequence' but the matched "
                            f"stop_sequence is null")
        elif stop_reason != "stop_sequence" and stop_sequence is not None:
            problems.append(f"{where}.stop_sequence: set to {stop_sequence!r} although stop_reason is "
                            f"{stop_reason!r} (only 'stop_sequence' carries one)")
        if stop_reason == "tool_use" and "tool_use" not in block_types:
            problems.append(f"{where}.stop_reason: 'tool_use' but the message has no tool_use block")
        return problems

    def _tool_id_problems(self, where: str, tool_id: str) -> list[str]:
        prefix = self.protocol.id_prefixes.get("tool_call")
        if prefix and not tool_id.startswith(prefix):
            return [f"{where}: expected the prefix {prefix!r}, found {tool_id!r}"]
        return []

    def reply(self, body: Any) -> Reply:
        blocks = body.get("content") or []
        return Reply(
            text="".join(b.get("text") or "" for b in blocks if b.get("type") == "text"),
            reasoning="".join(b.get("thinking") or "" for b in blocks if b.get("type") == "thinking"),
            finish_reason=body.get("stop_reason"),
            usage=_usage(body.get("usage")),
            response_id=body.get("id"),
            tool_calls=[ToolCall(b.get("id") or "", b.get("name") or "", json.dumps(b.get("input")))
                        for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"],
        )

    def _payloads(self, exchange: Exchange) -> tuple[list[tuple[int, Any]], list[str], list[str]]:
        """Decode each event; returns (position, data) pairs, framing problems and decoding problems.

        Framing problems (a missing or wrong `event:` line, a `[DONE]`) leave the event readable;
        decoding problems lose it, so the grammar walk would report their echoes.
        """
        payloads, framing, decoding = [], [], []
        for i, timed in enumerate(exchange.events):
            event = timed.event
            if event.data.strip() == DONE:
                framing.append(f"event {i}: `{DONE}` is not part of the Messages protocol "
                               f"(the stream ends with message_stop; naive clients fail to parse it)")
                continue
            try:
                data = json.loads(event.data)
            except ValueError as exc:
                decoding.append(f"event {i}: data is not JSON ({exc.msg} at column {exc.colno}): "
                                f"{event.data[:80]!r}")
                continue
            kind = data.get("type") if isinstance(data, dict) else None
            if not event.has_event_field:
                # The Anthropic SDK dispatches on the `event:` line and drops unnamed events.
                framing.append(f"event {i}: no `event:` line (data.type is {kind!r}); "
                               f"Anthropic clients skip unnamed events")
            elif isinstance(kind, str) and event.event != kind:
                framing.append(f"event {i}: `event: {event.event}` does not match data.type {kind!r}")
            payloads.append((i, data))
        return payloads, framing, decoding

    def stream_problems(self, exchange: Exchange, request: ChatRequest) -> list[str]:
        problems: list[str] = []
        if exchange.content_type != self.protocol.stream_media_type:
            problems.append(f"content-type: expected {self.protocol.stream_media_type}, "
                            f"found {exchange.content_type or '(none)'}")
        if not exchange.events:
            return problems + ["stream: no events at all"]
        if exchange.sse_incomplete:
            problems.append("stream: ended in the middle of an event (no blank line after the last data)")
        payloads, framing, decoding = self._payloads(exchange)
        problems += framing
        if not payloads:
            return problems + decoding + ["stream: no JSON events"]
        for i, data in payloads:
            decoding += schema_problems("message_stream_event", data, f"event {i}")
        if decoding:
            return problems + decoding
        return problems + self._grammar_problems(payloads)

    def _grammar_problems(self, payloads: list[tuple[int, dict[str, Any]]]) -> list[str]:
        """Event order and block bookkeeping; assumes every event passed the event schema."""
        problems: list[str] = []
        blocks: dict[int, _Block] = {}
        first_kind: str | None = None
        starts: list[int] = []
        deltas: list[tuple[int, dict[str, Any]]] = []
        stops: list[int] = []
        output_tokens: tuple[int, int] | None = None  # (event, count): the last cumulative count seen
        error_at: int | None = None
        late_block = False
        for i, data in payloads:
            kind = data["type"]
            if kind == "ping":
                continue
            if error_at is not None:
                problems.append(f"event {i}: {kind} after the error event {error_at} (an error ends the stream)")
                break
            if first_kind is None:
                first_kind = kind
                if kind not in ("message_start", "error"):
                    problems.append(f"event {i}: the first event must be message_start, found {kind}")
            if kind == "error":
                error_at = i
                problems.append(f"event {i}: error event: {data['error']['type']}: {data['error']['message']}")
            elif kind == "message_start":
                if starts:
                    problems.append(f"event {i}: message_start repeated (first at event {starts[0]})")
                else:
                    problems += self._start_problems(i, data["message"])
                    output_tokens = (i, data["message"]["usage"]["output_tokens"])
                starts.append(i)
            elif kind.startswith("content_block_"):
                if deltas and not late_block:
                    late_block = True  # once: every later block event is the same mistake
                    problems.append(f"event {i}: {kind} after the message_delta of event {deltas[0][0]} "
                                    f"(all blocks come before it)")
                problems += self._block_problems(i, data, blocks)
            elif kind == "message_delta":
                deltas.append((i, data))
                count = data["usage"]["output_tokens"]
                if output_tokens is not None and count < output_tokens[1]:
                    problems.append(f"event {i}: usage.output_tokens went down from {output_tokens[1]} "
                                    f"(event {output_tokens[0]}) to {count}; message_delta usage is cumulative, "
                                    f"not an increment")
                output_tokens = (i, count)
            elif kind == "message_stop":
                stops.append(i)
        if error_at is not None:
            # What is missing after an error (message_delta, message_stop, open blocks) is its
            # consequence, not another mistake.
            return problems
        if first_kind is None:
            return problems + ["stream: only ping events"]
        for index, block in sorted(blocks.items()):
            if not block.stopped:
                problems.append(f"stream: content block {index} (started at event {block.started_at}) never stopped")
        problems += self._message_delta_problems(deltas, [b.type for _, b in sorted(blocks.items())])
        if not stops:
            problems.append("stream: no message_stop")
        elif len(stops) > 1:
            problems.append(f"stream: message_stop sent {len(stops)} times (events {stops}), expected once")
        else:
            after = sum(1 for i, _ in payloads if i > stops[0])
            if after:
                problems.append(f"event {stops[0]}: message_stop must be the last event, found {after} after it")
        return problems

    def _start_problems(self, i: int, message: dict[str, Any]) -> list[str]:
        problems = []
        if message["content"]:
            problems.append(f"event {i}: message_start.message.content must be [], "
                            f"found {len(message['content'])} block(s)")
        if message.get("stop_reason") is not None:
            problems.append(f"event {i}: message_start.message.stop_reason must be null, "
                            f"found {message['stop_reason']!r}")
        prefix = self.protocol.id_prefixes.get("response")
        if prefix and not message["id"].startswith(prefix):
            problems.append(f"event {i}: message_start.message.id: expected the prefix {prefix!r}, "
                            f"found {message['id']!r}")
        return problems

    def _block_problems(self, i: int, data: dict[str, Any], blocks: dict[int, _Block]) -> list[str]:
        """One content_block_* event against the blocks seen so far; updates `blocks`."""
        kind, index = data["type"], data["index"]
        block = blocks.get(index)
        if kind == "content_block_start":
            problems = []
            if block is not None:
                return [f"event {i}: content_block_start for index {index}, already started at event "
                        f"{block.started_at}"]
            next_index = max(blocks, default=-1) + 1
            if index != next_index:
                problems.append(f"event {i}: content_block_start for index {index}, expected index {next_index} "
                                f"(indexes go 0, 1, 2… in order)")
            still_open = [k for k, b in sorted(blocks.items()) if not b.stopped]
            if still_open:
                problems.append(f"event {i}: content_block_start for index {index} while index {still_open[0]} "
                                f"is still open (blocks must not overlap)")
            skeleton = data["content_block"]
            blocks[index] = _Block(skeleton["type"], i)
            if skeleton["type"] == "tool_use":
                problems += self._tool_id_problems(f"event {i}: content_block.id", skeleton["id"])
            return problems
        if block is None:
            return [f"event {i}: {kind} for index {index}, never started"]
        if block.stopped:
            return [f"event {i}: {kind} for index {index}, already stopped"]
        if kind == "content_block_stop":
            block.stopped = True
            if block.type in TOOL_BLOCKS and block.partial_json:
                return _tool_input_problems(i, index, "".join(block.partial_json))
            return []
        delta_type = data["delta"]["type"]
        allowed = DELTA_TYPES.get(block.type)
        if allowed is not None and delta_type not in allowed:
            expected = " or ".join(allowed) or "no deltas"
            return [f"event {i}: {delta_type} in a {block.type} block (index {index}); expected {expected}"]
        if block.signed:
            return [f"event {i}: {delta_type} after the signature_delta of index {index} "
                    f"(the signature comes last, right before content_block_stop)"]
        if delta_type == "signature_delta":
            block.signed = True
        elif delta_type == "input_json_delta":
            block.partial_json.append(data["delta"]["partial_json"])
        return []

    def _message_delta_problems(self, deltas: list[tuple[int, dict[str, Any]]], block_types: list[str]) -> list[str]:
        if not deltas:
            return ["stream: no message_delta (the stop_reason never arrived)"]
        with_reason = [(i, d) for i, d in deltas if d["delta"].get("stop_reason") is not None]
        if not with_reason:
            return [f"event {deltas[-1][0]}: message_delta.delta.stop_reason is null; the stream never says "
                    f"why it stopped"]
        if len(with_reason) > 1:
            return [f"stream: stop_reason sent in {len(with_reason)} message_delta events "
                    f"({[i for i, _ in with_reason]}), expected exactly one"]
        i, data = with_reason[0]
        problems = []
        if i != deltas[-1][0]:
            # Clients overwrite stop_reason with each message_delta, so a later null erases it.
            problems.append(f"event {deltas[-1][0]}: a message_delta after event {i} resets stop_reason to null")
        delta = data["delta"]
        return problems + self._stop_problems(f"event {i}: message_delta.delta", delta["stop_reason"],
                                              delta.get("stop_sequence"), block_types, stream=True)

    def stream_reply(self, exchange: Exchange) -> Reply:
        payloads, _, _ = self._payloads(exchange)
        blocks: dict[int, tuple[str, list[str]]] = {}
        tools: dict[int, tuple[str, str]] = {}
        finish, rid = None, None
        usage: dict[str, Any] = {}
        for _, data in payloads:
            if not isinstance(data, dict):
                continue
            kind = data.get("type")
            if kind == "message_start" and isinstance(data.get("message"), dict):
                rid = rid or data["message"].get("id")
                usage.update(_dict(data["message"].get("usage")))
            elif kind == "content_block_start" and isinstance(data.get("index"), int):
                skeleton = _dict(data.get("content_block"))
                if skeleton.get("type") == "tool_use":
                    tools[data["index"]] = (skeleton.get("id") or "", skeleton.get("name") or "")
                initial = skeleton.get("text") or skeleton.get("thinking") or ""
                blocks.setdefault(data["index"], (skeleton.get("type"), [initial if isinstance(initial, str) else ""]))
            elif kind == "content_block_delta" and data.get("index") in blocks:
                delta = _dict(data.get("delta"))
                piece = {"text_delta": delta.get("text"), "thinking_delta": delta.get("thinking"),
                         "input_json_delta": delta.get("partial_json")}.get(delta.get("type"))
                if isinstance(piece, str):
                    blocks[data["index"]][1].append(piece)
            elif kind == "message_delta":
                finish = _dict(data.get("delta")).get("stop_reason") or finish
                # Counts are cumulative and omitted when unchanged: overwrite what is present.
                usage.update({k: v for k, v in _dict(data.get("usage")).items() if v is not None})
        ordered = [blocks[k] for k in sorted(blocks)]
        return Reply(
            text="".join("".join(parts) for kind, parts in ordered if kind == "text"),
            reasoning="".join("".join(parts) for kind, parts in ordered if kind == "thinking"),
            finish_reason=finish,
            usage=_usage(usage) if usage else None,
            response_id=rid,
            tool_calls=[ToolCall(*tools[k], "".join(blocks[k][1]) or "{}") for k in sorted(tools) if k in blocks],
        )

    def error_problems(self, exchange: Exchange, *, status: int, param: str | None) -> list[str]:
        problems = []
        if exchange.status != status:
            problems.append(f"status: expected {status}, found {exchange.status}")
        body = exchange.try_json()
        if body is None:
            return problems + [f"body: expected a JSON error object, found {exchange.body[:80]!r}"]
        shape = schema_problems("anthropic_error", body, "body")
        if shape:
            return problems + shape
        error = body["error"]
        known = ERROR_TYPES.get(error["type"])
        if known is None:
            problems.append(f"body.error.type: unknown error type {error['type']!r} (known: {', '.join(ERROR_TYPES)})")
        elif exchange.status is not None and known != exchange.status and not (
                # invalid_request_error also covers the 4xx statuses that have no type of their own
                error["type"] == "invalid_request_error" and 400 <= exchange.status < 500
                and exchange.status not in ERROR_TYPES.values()):
            problems.append(f"body.error.type: {error['type']!r} belongs with status {known}, "
                            f"sent with {exchange.status}")
        # The protocol has no `param` field: the message is the only place that can name it.
        if param is not None and param not in error["message"]:
            problems.append(f"body.error.message: does not name the parameter {param!r} "
                            f"(message={error['message'][:100]!r})")
        return problems


def _tool_input_problems(i: int, index: int, text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return [f"event {i}: the input_json_delta pieces of index {index} do not join into JSON "
                f"({exc.msg} at column {exc.colno}): {text[:80]!r}"]
    if not isinstance(value, dict):
        return [f"event {i}: the input_json_delta pieces of index {index} join into a JSON "
                f"{type(value).__name__}, not a JSON object: {text[:80]!r}"]
    return []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    inp, out = raw.get("input_tokens"), raw.get("output_tokens")
    if isinstance(inp, int):
        # Anthropic counts cached prompt tokens apart from input_tokens (WIRE.md F): the prompt
        # is all three, and that is what the neutral Usage means by input.
        inp += sum(v for k in ("cache_read_input_tokens", "cache_creation_input_tokens")
                   if isinstance(v := raw.get(k), int))
    total = inp + out if isinstance(inp, int) and isinstance(out, int) else None
    return Usage(inp, out, total, _dict(raw.get("output_tokens_details")).get("thinking_tokens"))
