"""OpenAI Chat Completions on the wire: request bodies, replies and the chunk-stream grammar.

Rules from WIRE.md §A (A.6 body, A.7 usage, A.9 streaming) and §D (SSE framing mistakes).
"""
from __future__ import annotations

import json
from typing import Any

from conformance.protocols.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    FINISH_TOOL,
    ChatRequest,
    Reply,
    TokenLogprob,
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


class ChatCompletions(WireProtocol):
    # Chat has one reason for a natural end and for a stop string alike.
    finish_kinds = {"stop": FINISH_STOP, "length": FINISH_LENGTH, "tool_calls": FINISH_TOOL}
    sdk_model = ("openai.types.chat", "ChatCompletion")

    def base_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.contract.model,
            "messages": [self._message(t) for t in request.turns],
        }
        if request.stream:
            body["stream"] = True
            if request.include_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    @staticmethod
    def _message(turn: Turn) -> dict[str, Any]:
        if turn.role == "tool":
            return {"role": "tool", "tool_call_id": turn.tool_call_id, "content": turn.text}
        if turn.tool_calls:
            return {"role": "assistant", "content": turn.text or None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in turn.tool_calls]}
        if turn.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
            parts += [{"type": "image_url", "image_url": {"url": i.data_uri()}} for i in turn.images]
            return {"role": turn.role, "content": parts}
        return {"role": turn.role, "content": turn.text}

    def tool_def(self, tool: ToolDef) -> dict[str, Any]:
        return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                                 "parameters": tool.parameters}}

    def tool_choice(self, choice: ToolChoice) -> Any:
        if choice.mode == "named":
            return {"type": "function", "function": {"name": choice.name}}
        return choice.mode

    def ask_json(self, body: dict[str, Any], schema: dict[str, Any]) -> None:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": schema, "strict": True}}

    def is_content(self, event: SSEEvent) -> bool:
        if event.data == DONE or '"content"' not in event.data:
            return False
        try:
            chunk = json.loads(event.data)
            return any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or [])
        except (ValueError, AttributeError, TypeError):
            return False

    def shape_problems(self, body: Any) -> list[str]:
        problems = schema_problems("chat_completion", body, "body")
        if problems:
            return problems
        for i, choice in enumerate(body["choices"]):
            if choice["index"] != i:
                problems.append(f"body.choices[{i}].index: expected {i}, found {choice['index']}")
        usage = body.get("usage")
        if usage is None:
            problems.append("body.usage: missing (the contract bills and counts per message)")
        elif usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]:
            problems.append(f"body.usage.total_tokens: {usage['total_tokens']} != prompt_tokens "
                            f"{usage['prompt_tokens']} + completion_tokens {usage['completion_tokens']}")
        prefix = self.protocol.id_prefixes.get("response")
        if prefix and not body["id"].startswith(prefix):
            problems.append(f"body.id: expected the prefix {prefix!r}, found {body['id']!r}")
        return problems

    def reply(self, body: Any) -> Reply:
        choice = body["choices"][0]
        message = choice["message"]
        return Reply(
            text=message.get("content") or "",
            reasoning=message.get("reasoning_content") or message.get("reasoning") or "",
            finish_reason=choice.get("finish_reason"),
            usage=_usage(body.get("usage")),
            response_id=body.get("id"),
            logprobs=_logprobs(choice.get("logprobs")),
            tool_calls=[ToolCall(c.get("id", ""), (c.get("function") or {}).get("name", ""),
                                 (c.get("function") or {}).get("arguments", ""))
                        for c in message.get("tool_calls") or [] if isinstance(c, dict)],
        )

    def _chunks(self, exchange: Exchange) -> tuple[list[tuple[int, Any]], list[str]]:
        """Decode each data frame; returns (position, chunk) pairs and decoding problems."""
        chunks, problems = [], []
        for i, timed in enumerate(exchange.events):
            data = timed.event.data
            if data == DONE:
                continue
            try:
                chunks.append((i, json.loads(data)))
            except ValueError as exc:
                problems.append(f"event {i}: data is not JSON ({exc.msg} at column {exc.colno}): {data[:80]!r}")
        return chunks, problems

    def stream_problems(self, exchange: Exchange, request: ChatRequest) -> list[str]:
        problems: list[str] = []
        if exchange.content_type != self.protocol.stream_media_type:
            problems.append(f"content-type: expected {self.protocol.stream_media_type}, "
                            f"found {exchange.content_type or '(none)'}")
        events = [t.event for t in exchange.events]
        if not events:
            return problems + ["stream: no events at all"]
        if exchange.sse_incomplete:
            problems.append("stream: ended in the middle of an event (no blank line after the last data)")
        if events[-1].data != DONE:
            problems.append(f"stream: the last event must be `data: {DONE}`, found {events[-1].data[:60]!r}")
        if sum(e.data == DONE for e in events) > 1:
            problems.append(f"stream: `{DONE}` sent more than once")
        named = [e.event for e in events if e.has_event_field]
        if named:
            problems.append(f"stream: chat streams are data-only, found `event:` lines ({named[0]!r})")
        chunks, decode_problems = self._chunks(exchange)
        problems += decode_problems
        if not chunks:
            return problems + ["stream: no JSON chunks before the terminator"]
        for i, chunk in chunks:
            problems += schema_problems("chat_completion_chunk", chunk, f"event {i}")
        if problems:
            return problems
        first_id, first_created = chunks[0][1]["id"], chunks[0][1]["created"]
        for i, chunk in chunks:
            if chunk["id"] != first_id:
                problems.append(f"event {i}: id changed from {first_id!r} to {chunk['id']!r}")
                break
        for i, chunk in chunks:
            if chunk["created"] != first_created:
                problems.append(f"event {i}: created changed from {first_created} to {chunk['created']}")
                break
        with_choices = [(i, c) for i, c in chunks if c["choices"]]
        if not with_choices:
            return problems + ["stream: no chunk carries a choice"]
        first_delta = with_choices[0][1]["choices"][0]["delta"]
        if first_delta.get("role") != "assistant":
            problems.append(f"event {with_choices[0][0]}: the first delta must carry role 'assistant', "
                            f"found {first_delta.get('role')!r}")
        for i, chunk in with_choices[1:]:
            if chunk["choices"][0]["delta"].get("role"):
                problems.append(f"event {i}: role repeated after the first delta")
                break
        problems += _tool_delta_problems(with_choices)
        finishes = [(i, c["choices"][0]["finish_reason"]) for i, c in with_choices if c["choices"][0].get("finish_reason")]
        if len(finishes) != 1:
            problems.append(f"stream: expected exactly one non-null finish_reason, found {len(finishes)}")
        elif finishes[0][0] != with_choices[-1][0]:
            problems.append(f"event {finishes[0][0]}: finish_reason must be on the last chunk of the choice")
        usage_chunks = [(i, c) for i, c in chunks if c.get("usage")]
        if request.include_usage:
            if not usage_chunks:
                problems.append("stream: stream_options.include_usage was set but no chunk carries usage")
            else:
                i, last = usage_chunks[-1]
                if last["choices"]:
                    problems.append(f"event {i}: the usage chunk must have `choices: []`")
                if i != chunks[-1][0]:
                    problems.append(f"event {i}: the usage chunk must be the last chunk before {DONE}")
                if len(usage_chunks) > 1:
                    problems.append(f"stream: usage on {len(usage_chunks)} chunks, expected only the last")
        elif usage_chunks:
            problems.append(f"event {usage_chunks[0][0]}: usage sent without stream_options.include_usage")
        return problems

    def stream_reply(self, exchange: Exchange) -> Reply:
        chunks, _ = self._chunks(exchange)
        text, reasoning, finish, usage, rid = [], [], None, None, None
        logprobs: list[TokenLogprob] | None = None
        calls: dict[int, dict[str, Any]] = {}
        for _, chunk in chunks:
            rid = rid or chunk.get("id")
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                for fragment in delta.get("tool_calls") or []:
                    call = calls.setdefault(fragment.get("index", 0), {"id": "", "name": "", "arguments": ""})
                    function = fragment.get("function") or {}
                    # As the SDK does: concatenate every field, so a repeated id or name shows.
                    call["id"] += fragment.get("id") or ""
                    call["name"] += function.get("name") or ""
                    call["arguments"] += function.get("arguments") or ""
                text.append(delta.get("content") or "")
                reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
                finish = choice.get("finish_reason") or finish
                piece = _logprobs(choice.get("logprobs"))
                if piece is not None:
                    logprobs = (logprobs or []) + piece
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
        tool_calls = [ToolCall(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())]
        return Reply("".join(text), "".join(reasoning), finish, usage, rid, logprobs, tool_calls)

    def error_problems(self, exchange: Exchange, *, status: int, param: str | None) -> list[str]:
        problems = []
        if exchange.status != status:
            problems.append(f"status: expected {status}, found {exchange.status}")
        body = exchange.try_json()
        if body is None:
            return problems + [f"body: expected a JSON error object, found {exchange.body[:80]!r}"]
        shape = schema_problems("openai_error", body, "body")
        if shape:
            return problems + shape
        if param is not None:
            error = body["error"]
            named = error.get("param") == param or param in (error.get("message") or "")
            if not named:
                problems.append(f"body.error: names neither in `param` nor in `message` the parameter {param!r} "
                                f"(param={error.get('param')!r}, message={error.get('message', '')[:100]!r})")
        return problems


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("completion_tokens_details") or {}
    return Usage(raw.get("prompt_tokens"), raw.get("completion_tokens"), raw.get("total_tokens"),
                 details.get("reasoning_tokens"))


def _logprobs(raw: Any) -> list[TokenLogprob] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        return None
    return [TokenLogprob(t.get("token", ""), t.get("logprob", 0.0),
                         tuple((a.get("token", ""), a.get("logprob", 0.0)) for a in t.get("top_logprobs") or []))
            for t in raw["content"] if isinstance(t, dict)]


def _tool_delta_problems(chunks: list[tuple[int, Any]]) -> list[str]:
    """WIRE.md A.9/F.1: every fragment has an index; id, type and name come once, on the first."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for i, chunk in chunks:
        for fragment in chunk["choices"][0]["delta"].get("tool_calls") or []:
            index = fragment.get("index") if isinstance(fragment, dict) else None
            if not isinstance(index, int):
                problems.append(f"event {i}: a tool-call fragment without an integer index")
                continue
            function = fragment.get("function") or {}
            if index not in seen:
                if not fragment.get("id") or not function.get("name"):
                    problems.append(f"event {i}: the first fragment of tool call {index} must carry its id and name")
                seen[index] = ""
            elif fragment.get("id") or function.get("name"):
                problems.append(f"event {i}: tool call {index} repeats its id or name after the first fragment")
            seen[index] += function.get("arguments") or ""
    for index, arguments in seen.items():
        try:
            json.loads(arguments)
        except ValueError:
            problems.append(f"tool call {index}: the argument fragments join to invalid JSON {arguments[:60]!r}")
    return problems
