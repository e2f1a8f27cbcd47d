"""POST /v1/chat/completions: the OpenAI Chat Completions wire format (WIRE.md §A).

Only the protocol lives here: how chat messages are spelled, and how a neutral
`Generation` becomes a ``chat.completion`` body or a ``chat.completion.chunk`` stream.
Validation, generation, token counting, faults and billing are shared with the other
endpoints.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from conformance.server.errors import RequestRejected
from conformance.server.distortions import distort, stall
from conformance.server.faults import Faults
from conformance.server.generator import Generation, Token, generate
from conformance.server.state import ServerState, new_id
from conformance.server.validation import (
    Conversation,
    Message,
    ValidatedRequest,
    describe,
    parse_json_body,
    validate_request,
)

ENDPOINT = "chat_completions"
ROLES = ("system", "developer", "user", "assistant", "tool")
# Which content part types each role may send; images are accepted and (for now) not looked at.
_PART_TYPES: dict[str, tuple[str, ...]] = {
    "system": ("text",), "developer": ("text",), "tool": ("text",),
    "user": ("text", "image_url"), "assistant": ("text", "refusal"),
}
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length"}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# ----------------------------------------------------------------------------- request side


def _content_text(content: Any, role: str, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise RequestRejected(400, f"{where}: expected a string or a non-empty array of content parts, "
                                   f"got {describe(content)}", where, "invalid_type")
    texts: list[str] = []
    allowed = _PART_TYPES[role]
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise RequestRejected(400, f"{here}: expected a content part object, got {describe(part)}", here,
                                  "invalid_type")
        kind = part.get("type")
        if kind not in allowed:
            raise RequestRejected(400, f"{here}.type: {describe(kind)} is not one of {', '.join(allowed)} "
                                       f"for role {role}", f"{here}.type", "invalid_value")
        field = {"text": "text", "refusal": "refusal"}.get(kind)
        if field is not None:
            if not isinstance(part.get(field), str):
                raise RequestRejected(400, f"{here}.{field}: expected a string, got {describe(part.get(field))}",
                                      f"{here}.{field}", "invalid_type")
            texts.append(part[field])
        else:
            image = part.get("image_url")
            if not isinstance(image, Mapping) or not isinstance(image.get("url"), str):
                raise RequestRejected(400, f"{here}.image_url: expected an object with a string url, "
                                           f"got {describe(image)}", f"{here}.image_url", "invalid_type")
    return "\n".join(texts)


def _message(raw: Any, i: int) -> Message:
    where = f"messages[{i}]"
    if not isinstance(raw, Mapping):
        raise RequestRejected(400, f"{where}: expected a message object, got {describe(raw)}", where, "invalid_type")
    role = raw.get("role")
    if role not in ROLES:
        raise RequestRejected(400, f"{where}.role: {describe(role)} is not one of {', '.join(ROLES)}",
                              f"{where}.role", "invalid_value")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise RequestRejected(400, f"{where}.name: expected a string, got {describe(name)}", f"{where}.name",
                              "invalid_type")
    content = raw.get("content")
    texts: list[str] = []
    if role == "assistant":
        calls = raw.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise RequestRejected(400, f"{where}.tool_calls: expected an array, got {describe(calls)}",
                                  f"{where}.tool_calls", "invalid_type")
        if content is None and not calls:
            raise RequestRejected(400, f"{where}.content: required unless tool_calls is given",
                                  f"{where}.content", "missing_required_parameter")
        if content is not None:
            texts.append(_content_text(content, role, f"{where}.content"))
        for call in calls or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                # The call's name and arguments are prompt text the model reads back.
                texts.extend(v for v in (function.get("name"), function.get("arguments")) if isinstance(v, str))
    else:
        if content is None:
            raise RequestRejected(400, f"{where}.content: required for role {role}", f"{where}.content",
                                  "missing_required_parameter")
        texts.append(_content_text(content, role, f"{where}.content"))
    if role == "tool" and not isinstance(raw.get("tool_call_id"), str):
        raise RequestRejected(400, f"{where}.tool_call_id: required string for role tool",
                              f"{where}.tool_call_id", "missing_required_parameter")
    return Message(role, "\n".join(texts))


def read_conversation(body: Mapping[str, Any]) -> Conversation:
    """The Chat Completions spelling of messages and streaming options."""
    messages = body.get("messages")
    if messages is None:
        raise RequestRejected(400, "messages: you must provide a messages parameter", "messages",
                              "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise RequestRejected(400, f"messages: expected a non-empty array, got {describe(messages)}", "messages",
                              "invalid_type" if not isinstance(messages, list) else "invalid_value")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        # One choice is all the reference server produces; more would break len(choices) == n.
        raise RequestRejected(400, f"n: only 1 is supported, got {describe(n)}", "n", "unsupported_value")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestRejected(400, f"stream: expected a boolean, got {describe(stream)}", "stream", "invalid_type")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise RequestRejected(400, "stream_options: only allowed when stream is true", "stream_options",
                                  "invalid_value")
        if not isinstance(options, Mapping):
            raise RequestRejected(400, f"stream_options: expected an object, got {describe(options)}",
                                  "stream_options", "invalid_type")
        flag = options.get("include_usage")
        if flag is not None and not isinstance(flag, bool):
            raise RequestRejected(400, f"stream_options.include_usage: expected a boolean, got {describe(flag)}",
                                  "stream_options.include_usage", "invalid_type")
        include_usage = bool(flag)
    return Conversation(tuple(_message(m, i) for i, m in enumerate(messages)), bool(stream), include_usage)


# ----------------------------------------------------------------------------- response side


@dataclass(frozen=True)
class Completion:
    """One validated request with its generation: everything a response body is made of."""

    id: str
    created: int
    model: str
    system_fingerprint: str
    request: ValidatedRequest
    generation: Generation
    faults: Faults

    @property
    def finish_reason(self) -> str:
        return _FINISH[self.generation.finish_reason]

    def usage(self) -> dict[str, Any]:
        prompt, completion = self.request.prompt_tokens, self.generation.completion_tokens
        total = prompt + completion + (1 if "bad_usage_total" in self.faults else 0)
        reasoning = 0 if "reasoning_tokens_uncounted" in self.faults else self.generation.reasoning_tokens
        return {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    def logprobs(self, tokens: tuple[Token, ...]) -> dict[str, Any] | None:
        if not self.request.logprobs and "logprobs_unasked" not in self.faults:
            return None
        return {"content": [_token_logprob(t) for t in tokens], "refusal": None}


def _token_logprob(token: Token) -> dict[str, Any]:
    return {
        "token": token.text, "logprob": token.logprob, "bytes": list(token.text.encode("utf-8")),
        "top_logprobs": [{"token": a.token, "logprob": a.logprob, "bytes": list(a.token.encode("utf-8"))}
                         for a in token.top_logprobs],
    }


def completion_body(c: Completion) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object (WIRE.md A.6)."""
    message: dict[str, Any] = {"role": "assistant", "content": c.generation.text, "refusal": None}
    if c.request.sampling.thinking:
        message["reasoning_content"] = c.generation.reasoning_text
    return {
        "id": c.id,
        "object": "chat.completions" if "wrong_object" in c.faults else "chat.completion",
        "created": c.created,
        "model": c.model,
        "system_fingerprint": c.system_fingerprint,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": c.logprobs(c.generation.answer),
            "finish_reason": None if "missing_finish_reason" in c.faults else c.finish_reason,
        }],
        "usage": c.usage(),
    }


def stream_chunks(c: Completion) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of the stream, in order (WIRE.md A.9)."""
    faults = c.faults
    final = c.finish_reason
    every = "stream_finish_every_chunk" in faults
    include_usage = c.request.include_usage and "stream_ignore_include_usage" not in faults

    def choice(delta: dict[str, Any], logprobs: dict[str, Any] | None = None, finish: str | None = None):
        return {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": final if every else finish}

    first: dict[str, Any] = {"content": ""} if "stream_no_role" in faults else {"role": "assistant", "content": ""}
    choices = [choice(first)]
    choices += [choice({"reasoning_content": t.text}) for t in c.generation.reasoning]
    answer = c.generation.answer[:-1] if "stream_drops_last_token" in faults else c.generation.answer
    choices += [choice({"content": t.text}, c.logprobs((t,))) for t in answer]
    choices.append(choice({}, finish=final))

    def chunk(choice_list: list[dict[str, Any]]) -> dict[str, Any]:
        out = {
            "id": new_id("chatcmpl-") if "stream_unstable_id" in faults else c.id,
            "object": "chat.completion.chunk", "created": c.created, "model": c.model,
            "system_fingerprint": c.system_fingerprint, "choices": choice_list,
        }
        if c.request.include_usage:
            out["usage"] = None
        return out

    chunks = [chunk([ch]) for ch in choices]
    if include_usage:
        last = chunk([choices[-1]] if "stream_usage_with_choices" in faults else [])
        last["usage"] = c.usage()
        if "stream_usage_mismatch" in faults:
            last["usage"]["completion_tokens"] += 1
            last["usage"]["total_tokens"] += 1
        chunks.append(last)
    return chunks


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def stream_frames(c: Completion) -> list[bytes]:
    """The SSE bytes: one ``data:`` frame per chunk, then ``data: [DONE]``."""
    payloads = [_compact(chunk) for chunk in stream_chunks(c)]
    if "stream_bad_json" in c.faults:
        payloads[1] = payloads[1][:-1]  # drop the closing brace of the first frame after the role frame
    if "stream_no_done" not in c.faults:
        payloads.append("[DONE]")
    return [f"data: {p}\n\n".encode("utf-8") for p in payloads]


async def create_chat_completion(request: Request, state: ServerState, faults: Faults) -> Response:
    body = parse_json_body(await request.body())
    validated = validate_request(body, state.contract, ENDPOINT, read_conversation, faults)
    completion = Completion(
        id=new_id("chatcmpl-"), created=int(time.time()), model=state.contract.model,
        system_fingerprint=state.system_fingerprint, request=validated,
        generation=distort(generate(validated.prompt_digest, validated.sampling), faults), faults=faults,
    )
    await stall(faults)
    if not validated.stream:
        state.ledger.record_message(ENDPOINT, completion.id)
        return Response(json.dumps(completion_body(completion), ensure_ascii=False), media_type="application/json")

    frames = stream_frames(completion)

    async def send() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame
            await asyncio.sleep(0)  # let each frame reach the socket on its own, like a real token stream
        state.ledger.record_message(ENDPOINT, completion.id)

    content_type = "application/json" if "stream_wrong_content_type" in faults else "text/event-stream"
    # An explicit header keeps Starlette from appending "; charset=utf-8" to the media type.
    return StreamingResponse(send(), headers={**SSE_HEADERS, "Content-Type": content_type})
