"""POST /v1/chat/completions: the OpenAI Chat Completions wire format (WIRE.md §A).

Only the protocol lives here: how chat messages, tools, ``tool_choice`` and ``response_format``
are spelled, and how a neutral `Answer` becomes a ``chat.completion`` body or a
``chat.completion.chunk`` stream. A tool call is ``message.tool_calls`` with ``content: null``
and finish_reason ``tool_calls``; streamed, its first fragment carries index, id, type and name,
and the arguments follow in several fragments. A ``tool`` message must answer a call an earlier
assistant message made. Validation, generation, token counting, faults, latency and billing are
shared with the other endpoints (`conformance.server.completion`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from conformance.server.completion import (
    STREAM_MEDIA_TYPE,
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
    require_object,
    require_string,
    sse_frame,
    text_field,
)
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.generator import Token
from conformance.server.state import ServerState, new_id
from conformance.server.structured import parse_response_format_chat
from conformance.server.tools import (
    CHAT_CALL_PREFIX,
    parse_openai_tool_choice,
    parse_openai_tools,
)
from conformance.server.validation import (
    CalledTool,
    Conversation,
    Message,
    describe,
    parse_json_body,
    validate_request,
)

ENDPOINT = "chat_completions"
DIALECT = Dialect(ENDPOINT, "chatcmpl-", CHAT_CALL_PREFIX, "response_format")
ROLES = ("system", "developer", "user", "assistant", "tool")
IMAGE_DETAILS = ("auto", "low", "high", "original")
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls"}


# ----------------------------------------------------------------------------- request side


def _image_url(part: Mapping[str, Any], where: str) -> tuple[Any, str]:
    image = part.get("image_url")
    if not isinstance(image, Mapping) or not isinstance(image.get("url"), str):
        raise RequestRejected(400, f"{where}.image_url: expected an object with a string url, got {describe(image)}",
                              f"{where}.image_url", "invalid_type")
    detail = image.get("detail")
    if detail is not None and detail not in IMAGE_DETAILS:
        raise RequestRejected(400, f"{where}.image_url.detail: {describe(detail)} is not one of "
                                   f"{', '.join(IMAGE_DETAILS)}", f"{where}.image_url.detail", "invalid_value")
    return image["url"], f"{where}.image_url.url"


_TEXT: dict[str, PartReader] = {"text": text_field("text")}
# Which content parts each role may send: images only on user turns.
_PARTS: dict[str, dict[str, PartReader]] = {
    "system": _TEXT, "developer": _TEXT, "tool": _TEXT,
    "user": {**_TEXT, "image_url": image_field(_image_url)},
    "assistant": {**_TEXT, "refusal": text_field("refusal")},
}


def _called_tool(raw: Any, where: str) -> CalledTool:
    if not isinstance(raw, Mapping):
        raise RequestRejected(400, f"{where}: expected a tool call object, got {describe(raw)}", where, "invalid_type")
    if raw.get("type", "function") != "function":
        raise RequestRejected(400, f"{where}.type: {describe(raw.get('type'))} is not 'function'", f"{where}.type",
                              "invalid_value")
    function = require_object(raw, "function", where)
    arguments = require_string(function, "arguments", f"{where}.function")
    return CalledTool(require_string(raw, "id", where), require_string(function, "name", f"{where}.function"),
                      canonical_arguments(arguments))


def _message(raw: Any, i: int, book: CallBook) -> Message:
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
    if role == "assistant":
        calls = raw.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise RequestRejected(400, f"{where}.tool_calls: expected an array, got {describe(calls)}",
                                  f"{where}.tool_calls", "invalid_type")
        if content is None and not calls:
            raise RequestRejected(400, f"{where}.content: required unless tool_calls is given",
                                  f"{where}.content", "missing_required_parameter")
        called = tuple(_called_tool(c, f"{where}.tool_calls[{k}]") for k, c in enumerate(calls or ()))
        book.called(c.id for c in called)
        text = "" if content is None else read_content(content, f"{where}.content", _PARTS[role]).text
        return Message(role, text, tool_calls=called)
    if content is None:
        raise RequestRejected(400, f"{where}.content: required for role {role}", f"{where}.content",
                              "missing_required_parameter")
    read = read_content(content, f"{where}.content", _PARTS[role])
    if role == "tool":
        book.answer(require_string(raw, "tool_call_id", where), f"{where}.tool_call_id",
                    "an earlier assistant message")
    return Message(role, read.text, read.images)


def _include_usage(body: Mapping[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
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
    return bool(flag)


def read_conversation(body: Mapping[str, Any]) -> Conversation:
    """The Chat Completions spelling of messages, tools, output format and streaming options."""
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
    read_parallel_flag(body)
    stream = read_stream_flag(body)
    book = CallBook()
    turns = tuple(_message(m, i, book) for i, m in enumerate(messages))
    tools = tuple(parse_openai_tools(body.get("tools")))
    return Conversation(turns, stream, _include_usage(body, stream), tools=tools,
                        tool_choice=parse_openai_tool_choice(body.get("tool_choice"), tools),
                        output_format=parse_response_format_chat(body.get("response_format")))


# ----------------------------------------------------------------------------- response side


@dataclass(frozen=True)
class ChatAnswer:
    """An `Answer` in the Chat Completions vocabulary."""

    answer: Answer
    system_fingerprint: str

    @property
    def finish_reason(self) -> str:
        return _FINISH[self.answer.generation.finish_reason]

    @property
    def content(self) -> str | None:
        # A tool call answers with no text at all: null, not "" (WIRE.md A.6).
        a = self.answer
        return None if a.tool_call is not None and not a.generation.answer else a.generation.text

    def usage(self) -> dict[str, Any]:
        a = self.answer
        prompt, completion = a.input_tokens, a.output_tokens
        total = prompt + completion + (1 if "bad_usage_total" in a.faults else 0)
        reasoning = 0 if "reasoning_tokens_uncounted" in a.faults else a.generation.reasoning_tokens
        return {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    def logprobs(self, tokens: tuple[Token, ...]) -> dict[str, Any] | None:
        if not self.answer.request.logprobs and "logprobs_unasked" not in self.answer.faults:
            return None
        return {"content": [_token_logprob(t) for t in tokens], "refusal": None}


def _token_logprob(token: Token) -> dict[str, Any]:
    return {
        "token": token.text, "logprob": token.logprob, "bytes": list(token.text.encode("utf-8")),
        "top_logprobs": [{"token": a.token, "logprob": a.logprob, "bytes": list(a.token.encode("utf-8"))}
                         for a in token.top_logprobs],
    }


def completion_body(c: ChatAnswer) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object (WIRE.md A.6)."""
    a = c.answer
    message: dict[str, Any] = {"role": "assistant", "content": c.content, "refusal": None}
    if a.request.sampling.thinking:
        message["reasoning_content"] = a.generation.reasoning_text
    if a.tool_call is not None:
        call = a.tool_call
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments}}]
    return {
        "id": a.id,
        "object": "chat.completions" if "wrong_object" in a.faults else "chat.completion",
        "created": a.created,
        "model": a.model,
        "system_fingerprint": c.system_fingerprint,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": c.logprobs(a.generation.answer),
            "finish_reason": None if "missing_finish_reason" in a.faults else c.finish_reason,
        }],
        "usage": c.usage(),
    }


def _tool_deltas(c: ChatAnswer) -> list[dict[str, Any]]:
    """The tool call as delta fragments: index, id, type and name first, then the arguments piece by piece."""
    call = c.answer.tool_call
    if call is None:
        return []
    head = {"index": 0, "id": call.id, "type": "function"}
    repeat = "tool_stream_repeat_id" in c.answer.faults
    fragments = [{**head, "function": {"name": call.name, "arguments": ""}}]
    fragments += [{**(head if repeat else {"index": 0}),
                   "function": {"name": call.name, "arguments": piece} if repeat else {"arguments": piece}}
                  for piece in call.fragments()]
    return [{"tool_calls": [fragment]} for fragment in fragments]


def stream_chunks(c: ChatAnswer) -> list[tuple[dict[str, Any], bool]]:
    """The ``chat.completion.chunk`` objects of the stream in order, each flagged when it carries tokens (A.9)."""
    a = c.answer
    faults = a.faults
    final = c.finish_reason
    every = "stream_finish_every_chunk" in faults

    def choice(delta: dict[str, Any], logprobs: dict[str, Any] | None = None, finish: str | None = None):
        return {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": final if every else finish}

    opening = "" if c.content is not None else None
    first: dict[str, Any] = {"content": opening} if "stream_no_role" in faults else {"role": "assistant",
                                                                                     "content": opening}
    choices = [(choice(first), False)]
    choices += [(choice({"reasoning_content": t.text}), True) for t in a.generation.reasoning]
    answer = a.generation.answer[:-1] if "stream_drops_last_token" in faults else a.generation.answer
    choices += [(choice({"content": t.text}, c.logprobs((t,))), True) for t in answer]
    choices += [(choice(delta), True) for delta in _tool_deltas(c)]
    choices.append((choice({}, finish=final), False))

    def chunk(choice_list: list[dict[str, Any]]) -> dict[str, Any]:
        out = {
            "id": new_id("chatcmpl-") if "stream_unstable_id" in faults else a.id,
            "object": "chat.completion.chunk", "created": a.created, "model": a.model,
            "system_fingerprint": c.system_fingerprint, "choices": choice_list,
        }
        if a.request.include_usage:
            out["usage"] = None
        return out

    chunks = [(chunk([ch]), token) for ch, token in choices]
    if a.request.include_usage and "stream_ignore_include_usage" not in faults:
        last = chunk([choices[-1][0]] if "stream_usage_with_choices" in faults else [])
        last["usage"] = c.usage()
        if "stream_usage_mismatch" in faults:
            last["usage"]["completion_tokens"] += 1
            last["usage"]["total_tokens"] += 1
        chunks.append((last, False))
    return chunks


def stream_frames(c: ChatAnswer) -> list[Frame]:
    """The SSE frames: one ``data:`` frame per chunk, then ``data: [DONE]``."""
    frames = [sse_frame(chunk, token=token) for chunk, token in stream_chunks(c)]
    if "stream_bad_json" in c.answer.faults:
        # Drop the closing brace of the first frame after the role frame.
        broken = frames[1].data.decode()
        frames[1] = Frame(broken[: broken.rindex("}")].encode() + b"\n\n", frames[1].token)
    if "stream_no_done" not in c.answer.faults:
        frames.append(sse_frame("[DONE]"))
    return frames


async def create_chat_completion(request: Request, state: ServerState, faults: Faults) -> Response:
    body = parse_json_body(await request.body())
    validated = validate_request(body, state.contract, ENDPOINT, read_conversation, faults)
    result = ChatAnswer(generate_answer(validated, state, faults, DIALECT), state.system_fingerprint)
    media_type = "application/json" if "stream_wrong_content_type" in faults else STREAM_MEDIA_TYPE
    return await deliver(state, DIALECT, result.answer, lambda: completion_body(result),
                         lambda: stream_frames(result), media_type=media_type)
