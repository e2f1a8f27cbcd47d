"""OpenAI Responses on the wire: request bodies, replies and the typed-event stream grammar.

Rules from WIRE.md §B (B.6 response, B.7 items, B.8 usage, B.9 events and the SDK accumulator's
invariants), §D (SSE framing) and the F.1 checklist. A stream is checked in layers: framing and
JSON, the per-event schema, sequence numbers, the item/part lifecycle, then the terminal event.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from conformance.protocols.base import (
    FINISH_LENGTH,
    FINISH_STOP,
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
from conformance.protocols.chat_completions import ChatCompletions
from conformance.transport.client import Exchange
from conformance.transport.sse import SSEEvent

DONE = "[DONE]"
CREATED = "response.created"
LIFECYCLE = {CREATED, "response.queued", "response.in_progress"}
# Each terminal event and the response.status it must carry.
TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
TEXT_DELTA = "response.output_text.delta"

# Events that stream one text, by family: (scope, the part type they write into, the `.done` field
# holding the full text). Arguments have no part of their own: they belong to a function_call item.
_TEXTS = {
    "response.output_text": ("content", "output_text", "text"),
    "response.refusal": ("content", "refusal", "refusal"),
    "response.reasoning_text": ("content", "reasoning_text", "text"),
    "response.reasoning_summary_text": ("summary", "summary_text", "text"),
    "response.function_call_arguments": ("arguments", "function_call", "arguments"),
}
# Events that open and close a part, by family: the scope of the texts they hold.
_PARTS = {"response.content_part": "content", "response.reasoning_summary_part": "summary"}
_INDEX = {"content": "content_index", "summary": "summary_index"}


class Responses(WireProtocol):
    # `reply.finish_reason` is the status, or the incomplete reason when cut short.
    finish_kinds = {"completed": FINISH_STOP, "max_output_tokens": FINISH_LENGTH}
    sdk_model = ("openai.types.responses", "Response")

    def base_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.contract.model,
            "input": [item for t in request.turns if t.role != "system" for item in self._items(t)],
        }
        system = [t.text for t in request.turns if t.role == "system"]
        if system:
            body["instructions"] = "\n\n".join(system)
        # No include_usage here: the terminal event always carries usage (WIRE.md B.2).
        if request.stream:
            body["stream"] = True
        return body

    @staticmethod
    def _items(turn: Turn) -> list[dict[str, Any]]:
        """One turn as input items: a tool call and its output are items of their own here."""
        if turn.role == "tool":
            return [{"type": "function_call_output", "call_id": turn.tool_call_id, "output": turn.text}]
        if turn.tool_calls:
            return [{"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
                    for c in turn.tool_calls]
        if turn.images:
            parts: list[dict[str, Any]] = [{"type": "input_text", "text": turn.text}]
            parts += [{"type": "input_image", "image_url": i.data_uri(), "detail": "auto"} for i in turn.images]
            return [{"role": turn.role, "content": parts}]
        return [{"role": turn.role, "content": turn.text}]

    def tool_def(self, tool: ToolDef) -> dict[str, Any]:
        # Flat, unlike chat's nested `function` object (WIRE.md F).
        return {"type": "function", "name": tool.name, "description": tool.description,
                "parameters": tool.parameters}

    def tool_choice(self, choice: ToolChoice) -> Any:
        return {"type": "function", "name": choice.name} if choice.mode == "named" else choice.mode

    def ask_json(self, body: dict[str, Any], schema: dict[str, Any]) -> None:
        body.setdefault("text", {})["format"] = {"type": "json_schema", "name": "answer", "schema": schema,
                                                 "strict": True}

    def is_content(self, event: SSEEvent) -> bool:
        if f'"{TEXT_DELTA}"' not in event.data:
            return False
        try:
            data = json.loads(event.data)
            return data.get("type") == TEXT_DELTA and bool(data.get("delta"))
        except (ValueError, AttributeError):
            return False

    def shape_problems(self, body: Any) -> list[str]:
        return self._response_problems(body, "body")

    def _response_problems(self, body: Any, what: str) -> list[str]:
        problems = schema_problems("response", body, what)
        if problems:
            return problems
        status, usage = body["status"], body.get("usage")
        if usage is None:
            if status in ("completed", "incomplete"):
                problems.append(f"{what}.usage: missing (a finished response reports its token counts)")
        else:
            if usage["total_tokens"] != usage["input_tokens"] + usage["output_tokens"]:
                problems.append(f"{what}.usage.total_tokens: {usage['total_tokens']} != input_tokens "
                                f"{usage['input_tokens']} + output_tokens {usage['output_tokens']}")
            reasoning = usage["output_tokens_details"]["reasoning_tokens"]
            if reasoning > usage["output_tokens"]:
                problems.append(f"{what}.usage.output_tokens_details.reasoning_tokens: {reasoning} exceeds "
                                f"output_tokens {usage['output_tokens']}, which include them")
        if status == "incomplete" and not (body.get("incomplete_details") or {}).get("reason"):
            problems.append(f"{what}.incomplete_details.reason: missing although status is 'incomplete'")
        if status == "failed" and not body.get("error"):
            problems.append(f"{what}.error: missing although status is 'failed'")
        problems += self._prefix_problems(f"{what}.id", body["id"], "response")
        for k, item in enumerate(body["output"]):
            if item["type"] == "message":
                problems += self._prefix_problems(f"{what}.output[{k}].id", item["id"], "message")
            elif item["type"] == "function_call":
                if not item["call_id"]:
                    problems.append(f"{what}.output[{k}].call_id: empty, so no function_call_output can answer it")
                else:
                    problems += self._prefix_problems(f"{what}.output[{k}].call_id", item["call_id"], "tool_call")
        return problems

    def _prefix_problems(self, where: str, value: str, kind: str) -> list[str]:
        prefix = self.protocol.id_prefixes.get(kind)
        if prefix and not value.startswith(prefix):
            return [f"{where}: expected the prefix {prefix!r}, found {value!r}"]
        return []

    def reply(self, body: Any) -> Reply:
        text, reasoning = _output_texts(body.get("output"))
        finish = body.get("status")
        if finish == "incomplete":
            # "incomplete" alone hides why; the reason is what a length check needs.
            finish = (body.get("incomplete_details") or {}).get("reason") or finish
        return Reply(text, reasoning, finish, _usage(body.get("usage")), body.get("id"),
                     tool_calls=_tool_calls(body.get("output")))

    def _events(self, exchange: Exchange) -> tuple[list[tuple[int, SSEEvent, Any]], list[str]]:
        """Decode each frame but a final `[DONE]`; returns (position, event, data) and decoding problems."""
        frames, problems = [], []
        timed = exchange.events
        for i, t in enumerate(timed):
            data = t.event.data
            if data == DONE:
                if i != len(timed) - 1:
                    # The SDK stops reading at [DONE], so everything after it is lost.
                    problems.append(f"event {i}: `data: {DONE}` before the end of the stream")
                continue
            try:
                frames.append((i, t.event, json.loads(data)))
            except ValueError as exc:
                problems.append(f"event {i}: data is not JSON ({exc.msg} at column {exc.colno}): {data[:80]!r}")
        return frames, problems

    def stream_problems(self, exchange: Exchange, request: ChatRequest) -> list[str]:
        problems: list[str] = []
        if exchange.content_type != self.protocol.stream_media_type:
            problems.append(f"content-type: expected {self.protocol.stream_media_type}, "
                            f"found {exchange.content_type or '(none)'}")
        if not exchange.events:
            return problems + ["stream: no events at all"]
        if exchange.sse_incomplete:
            problems.append("stream: ended in the middle of an event (no blank line after the last data)")
        frames, decode_problems = self._events(exchange)
        problems += decode_problems
        if not frames:
            return problems + ["stream: no JSON events"]
        problems += self._naming_problems(frames)
        shape = [p for i, _, data in frames for p in schema_problems("response_stream_event", data, f"event {i}")]
        if shape:
            return problems + shape
        events = [(i, data) for i, _, data in frames]
        problems += _sequence_problems(events)
        problems += self._lifecycle_event_problems(events)
        lifecycle = _Lifecycle()
        for i, data in events:
            lifecycle.feed(i, data)
        problems += lifecycle.problems
        problems += self._terminal_problems(events, exchange.events[-1].event.data == DONE, lifecycle)
        return problems

    def _naming_problems(self, frames: list[tuple[int, SSEEvent, Any]]) -> list[str]:
        # The OpenAI SDK dispatches on data.type, but other clients route on the `event:` line,
        # so the two must agree; one report is enough, a broken server breaks every frame.
        for i, event, data in frames:
            kind = data.get("type") if isinstance(data, dict) else None
            if not event.has_event_field:
                if self.protocol.named_events:
                    return [f"event {i}: no `event:` line (data.type is {kind!r})"]
            elif event.event != kind:
                return [f"event {i}: `event: {event.event}` but data.type is {kind!r}"]
        return []

    def _lifecycle_event_problems(self, events: list[tuple[int, Any]]) -> list[str]:
        problems = []
        first_i, first = events[0]
        if first["type"] != CREATED:
            problems.append(f"event {first_i}: the first event must be {CREATED}, found {first['type']!r}")
        created = [i for i, data in events if data["type"] == CREATED]
        if len(created) > 1:
            problems.append(f"event {created[1]}: {CREATED} sent again (first at event {created[0]})")
        response_id = None
        for i, data in events:
            if data["type"] not in LIFECYCLE and data["type"] not in TERMINAL:
                continue
            if data["type"] in LIFECYCLE:
                problems += schema_problems("response", data["response"], f"event {i}.response")
            rid = data["response"].get("id")
            if response_id is None:
                response_id = rid
            elif rid != response_id:
                # The SDK raises "Lifecycle response identity changed".
                problems.append(f"event {i}: response.id changed from {response_id!r} to {rid!r}")
                break
        for i, data in events:
            if data["type"] == "error":
                code = f" ({data['code']})" if data.get("code") else ""
                problems.append(f"event {i}: stream-level error{code}: {data['message'][:100]!r}")
        return problems

    def _terminal_problems(self, events: list[tuple[int, Any]], done_marker: bool, lifecycle: _Lifecycle) -> list[str]:
        terminals = [(i, data) for i, data in events if data["type"] in TERMINAL]
        if not terminals:
            return [f"stream: no terminal event ({', '.join(TERMINAL)})"]
        problems = []
        if len(terminals) > 1:
            problems.append(f"stream: {len(terminals)} terminal events (at events "
                            f"{', '.join(str(i) for i, _ in terminals)}), expected exactly one")
        i, data = terminals[0]
        kind, response = data["type"], data["response"]
        last_i, last = events[-1]
        if last_i != i:
            problems.append(f"event {i}: {kind} is not the last event ({last['type']!r} follows at event {last_i}"
                            f"{f', then {DONE}' if done_marker else ''})")
        if response.get("status") != TERMINAL[kind]:
            problems.append(f"event {i}: {kind} carries response.status {response.get('status')!r}, "
                            f"expected {TERMINAL[kind]!r}")
        problems += self._response_problems(response, f"event {i}.response")
        if kind == "response.failed":
            return problems  # a failure may cut items short; its output need not match what streamed
        for n, item in sorted(lifecycle.items.items()):
            if item.done_at is None:
                problems.append(f"event {i}: output_index {n} was added (event {item.added_at}) "
                                f"but never finished by response.output_item.done")
        finished = [(n, item) for n, item in sorted(lifecycle.items.items()) if item.done_item is not None]
        output = response.get("output")
        if not isinstance(output, list) or not all(isinstance(o, dict) for o in output):
            return problems
        if len(output) != len(finished):
            return problems + [f"event {i}: response.output has {len(output)} items, but "
                               f"response.output_item.done finished {len(finished)}"]
        for k, (got, (_, item)) in enumerate(zip(output, finished)):
            if not _same_item(got, item.done_item) or _item_texts(got) != _item_texts(item.done_item):
                problems.append(f"event {i}: response.output[{k}] is {_describe(got)}, but "
                                f"response.output_item.done (event {item.done_at}) gave {_describe(item.done_item)}")
        return problems

    def stream_reply(self, exchange: Exchange) -> Reply:
        frames, _ = self._events(exchange)
        events = [data for _, _, data in frames if isinstance(data, dict)]
        streamed = _reply_from_deltas(events)
        terminal = next((d for d in events if d.get("type") in TERMINAL and isinstance(d.get("response"), dict)), None)
        if terminal is None:
            return streamed
        reply = self.reply(terminal["response"])
        if not isinstance(terminal["response"].get("output"), list):
            # The SDK rebuilds a missing output from the stream; so do we.
            reply.text, reply.reasoning = streamed.text, streamed.reasoning
        return reply

    # Both OpenAI endpoints answer errors with the same body (WIRE.md F, "Error body" row).
    error_problems = ChatCompletions.error_problems


def _sequence_problems(events: list[tuple[int, Any]]) -> list[str]:
    previous = None
    for i, data in events:
        number = data["sequence_number"]
        if previous is None and number != 0:
            return [f"event {i}: sequence_number {number}, expected 0 on the first event"]
        if previous is not None and number != previous + 1:
            return [f"event {i}: sequence_number {number} after {previous}, expected {previous + 1}"]
        previous = number
    return []


@dataclass
class _Text:
    """One text as it streams: a content part, a reasoning-summary part, or function-call arguments."""

    where: str
    kind: str  # the part type (or the item type, for arguments) that deltas must write into
    opened_at: int
    deltas: list[str] = field(default_factory=list)
    text: str | None = None  # from the `.done` event of the text
    text_done_at: int | None = None
    closed_at: int | None = None  # the part's `.done` event (the item's, for arguments)


@dataclass
class _Item:
    added_at: int
    item: dict[str, Any]
    done_at: int | None = None
    done_item: dict[str, Any] | None = None
    texts: dict[tuple[str, int], _Text] = field(default_factory=dict)


class _Lifecycle:
    """Walks the item-scoped events in order, tracking each output item and its parts.

    Each rule is reported once per output item: one broken item would otherwise flood the list
    with a problem per delta.
    """

    def __init__(self) -> None:
        self.items: dict[int, _Item] = {}
        self.problems: list[str] = []
        self._reported: set[tuple[str, int]] = set()

    def _problem(self, rule: str, n: int, message: str) -> None:
        if (rule, n) not in self._reported:
            self._reported.add((rule, n))
            self.problems.append(message)

    def feed(self, i: int, event: dict[str, Any]) -> None:
        if "output_index" not in event:
            return
        kind, n = event["type"], event["output_index"]
        if kind == "response.output_item.added":
            self._item_added(i, n, event["item"])
            return
        item = self.items.get(n)
        if item is None:
            self._problem("unopened", n, f"event {i}: {kind} for output_index {n} before its "
                                         f"response.output_item.added")
            return
        if item.done_at is not None:
            self._problem("after-done", n, f"event {i}: {kind} for output_index {n} after its "
                                           f"response.output_item.done (event {item.done_at})")
            return
        item_id = item.item.get("id")
        if "item_id" in event and item_id and event["item_id"] != item_id:
            self._problem("item-id", n, f"event {i}: item_id {event['item_id']!r} is not the id {item_id!r} "
                                        f"of output_index {n}")
        family, _, step = kind.rpartition(".")
        if kind == "response.output_item.done":
            self._item_done(i, n, item, event["item"])
        elif family in _PARTS and step in ("added", "done"):
            self._part(i, n, item, family, step, event)
        elif family in _TEXTS and step in ("delta", "done"):
            self._text(i, n, item, family, step, event)

    def _item_added(self, i: int, n: int, added: dict[str, Any]) -> None:
        if n in self.items:
            first = self.items[n]
            after = f", done at event {first.done_at}" if first.done_at is not None else ""
            self._problem("reused", n, f"event {i}: output_index {n} reused by another response.output_item.added "
                                       f"(first added at event {first.added_at}{after})")
            return
        item = self.items[n] = _Item(i, added)
        if added.get("type") == "function_call":
            item.texts[("arguments", 0)] = _Text(f"output_index {n} arguments", "function_call", i)

    def _part(self, i: int, n: int, item: _Item, family: str, step: str, event: dict[str, Any]) -> None:
        scope = _PARTS[family]
        index = event[_INDEX[scope]]
        where = f"output_index {n} {_INDEX[scope]} {index}"
        text = item.texts.get((scope, index))
        if step == "added":
            if text is not None:
                self._problem(f"{family} twice", n, f"event {i}: {family}.added for {where} again "
                                                    f"(first at event {text.opened_at})")
                return
            expected = sum(1 for s, _ in item.texts if s == scope)
            if index != expected:
                # The SDK appends parts and then indexes them by content_index.
                self._problem(f"{family} order", n, f"event {i}: {family}.added for {where}, expected "
                                                    f"{_INDEX[scope]} {expected} (parts are numbered from 0 in order)")
            item.texts[(scope, index)] = _Text(where, event["part"]["type"], i)
            return
        if text is None:
            self._problem(f"{family} unopened", n, f"event {i}: {family}.done for {where} before its {family}.added")
            return
        if text.closed_at is not None:
            self._problem(f"{family} twice", n, f"event {i}: {family}.done for {where} again "
                                                f"(first at event {text.closed_at})")
            return
        if text.deltas and text.text_done_at is None:
            self._problem(f"{family} early", n, f"event {i}: {family}.done for {where} before its text's .done event")
        final = _part_text(event["part"])
        if text.text is not None and final is not None and final != text.text:
            self._problem(f"{family} text", n, f"event {i}: {family}.done part text {_clip(final)} != "
                                               f"streamed text {_clip(text.text)} ({where})")
        text.closed_at = i

    def _text(self, i: int, n: int, item: _Item, family: str, step: str, event: dict[str, Any]) -> None:
        kind = event["type"]
        scope, part_type, done_field = _TEXTS[family]
        index = event[_INDEX[scope]] if scope in _INDEX else 0
        text = item.texts.get((scope, index))
        if text is None:
            if scope == "arguments":
                self._problem(f"{family} item", n, f"event {i}: {kind} on a {item.item.get('type')!r} item "
                                                   f"(output_index {n}), expected a function_call")
            else:
                opener = next(f for f, s in _PARTS.items() if s == scope)
                self._problem(f"{family} unopened", n, f"event {i}: {kind} before {opener}.added for "
                                                       f"output_index {n} {_INDEX[scope]} {index}")
            return
        if text.kind != part_type:
            self._problem(f"{family} part", n, f"event {i}: {kind} on a {text.kind!r} part ({text.where}), "
                                               f"expected {part_type!r}")
        if text.closed_at is not None or text.text_done_at is not None:
            closer, at = ((f"{family}.done", text.text_done_at) if text.text_done_at is not None
                          else ("its part's .done", text.closed_at))
            self._problem(f"{family} closed", n, f"event {i}: {kind} after {closer} (event {at}) for {text.where}")
            return
        if step == "delta":
            text.deltas.append(event["delta"])
            return
        final, joined = event[done_field], "".join(text.deltas)
        if final != joined:
            self._problem(f"{family} concat", n, f"event {i}: {kind} {done_field} {_clip(final)} != concatenated "
                                                 f"deltas {_clip(joined)} ({text.where})")
        text.text, text.text_done_at = final, i

    def _item_done(self, i: int, n: int, item: _Item, done: dict[str, Any]) -> None:
        if not _same_item(item.item, done):
            # The SDK raises "Completed output item identity changed".
            self._problem("identity", n, f"event {i}: response.output_item.done for output_index {n} is "
                                         f"{_describe(done, text=False)}, but "
                                         f"{_describe(item.item, text=False)} was added")
        final = _item_texts(done)
        for key, text in item.texts.items():
            if key[0] == "arguments":
                if text.deltas and text.text_done_at is None:
                    self._problem("open", n, f"event {i}: response.output_item.done for output_index {n} before "
                                             f"response.function_call_arguments.done")
            elif text.closed_at is None:
                self._problem("open", n, f"event {i}: response.output_item.done for output_index {n} while "
                                         f"{text.where} is still open (no part .done event)")
            if text.text is not None and final.get(key) != text.text:
                self._problem("item text", n, f"event {i}: response.output_item.done item has {_clip(final.get(key))} "
                                              f"at {text.where}, but {_clip(text.text)} was streamed")
        item.done_at, item.done_item = i, done


def _part_text(part: dict[str, Any]) -> str | None:
    return part.get("refusal") if part.get("type") == "refusal" else part.get("text")


def _item_texts(item: dict[str, Any]) -> dict[tuple[str, int], str | None]:
    """An item's texts keyed as the stream addresses them: (scope, content or summary index)."""
    texts: dict[tuple[str, int], str | None] = {}
    if item.get("type") == "function_call":
        texts[("arguments", 0)] = item.get("arguments")
        return texts
    for c, part in enumerate(item.get("content") or []):
        if isinstance(part, dict):
            texts[("content", c)] = _part_text(part)
    for s, part in enumerate(item.get("summary") or []):
        if isinstance(part, dict):
            texts[("summary", s)] = part.get("text")
    return texts


def _same_item(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # Ids may be absent (a function_call's `id` is optional); compare them only when both have one.
    return a.get("type") == b.get("type") and all(
        a.get(key) == b.get(key) for key in ("id", "call_id") if a.get(key) and b.get(key))


def _describe(item: dict[str, Any], *, text: bool = True) -> str:
    words = [f"{item.get('type')!r}", f"id {item.get('id')!r}"]
    if item.get("call_id"):
        words.append(f"call_id {item['call_id']!r}")
    if text:
        words.append(f"text {_clip(''.join(t or '' for t in _item_texts(item).values()))}")
    return " ".join(words)


def _clip(text: str | None, limit: int = 60) -> str:
    if text is None or len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + "…"


def _output_texts(output: Any) -> tuple[str, str]:
    """(answer, reasoning) as the output items spell them."""
    text, reasoning = [], []
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            text += [p.get("text") or "" for p in item.get("content") or []
                     if isinstance(p, dict) and p.get("type") == "output_text"]
        elif item.get("type") == "reasoning":
            # Raw reasoning (open-weight servers) is the whole thought; a summary only digests it.
            raw = [p.get("text") or "" for p in item.get("content") or [] if isinstance(p, dict)]
            summary = [p.get("text") or "" for p in item.get("summary") or [] if isinstance(p, dict)]
            reasoning += raw if any(raw) else summary
    return "".join(text), "".join(reasoning)


def _tool_calls(output: Any) -> list[ToolCall]:
    return [ToolCall(item.get("call_id") or "", item.get("name") or "", item.get("arguments") or "")
            for item in output if isinstance(item, dict) and item.get("type") == "function_call"] \
        if isinstance(output, list) else []


def _reply_from_deltas(events: list[dict[str, Any]]) -> Reply:
    text, raw, summary, rid = [], [], [], None
    for event in events:
        kind = event.get("type")
        if kind == CREATED and isinstance(event.get("response"), dict):
            rid = event["response"].get("id")
        delta = event.get("delta") if isinstance(event.get("delta"), str) else ""
        if kind == TEXT_DELTA:
            text.append(delta)
        elif kind == "response.reasoning_text.delta":
            raw.append(delta)
        elif kind == "response.reasoning_summary_text.delta":
            summary.append(delta)
    return Reply("".join(text), "".join(raw) or "".join(summary), response_id=rid)


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("output_tokens_details") or {}
    return Usage(raw.get("input_tokens"), raw.get("output_tokens"), raw.get("total_tokens"),
                 details.get("reasoning_tokens"))
