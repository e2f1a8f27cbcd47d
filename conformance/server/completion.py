"""Protocol-neutral pieces of an endpoint: reading content and tool calls, running the toy model, serving.

Cross-endpoint equivalence. Chat Completions, Responses and Messages spell a conversation
differently, but each protocol's reader reduces it to the same canonical sequence of
`Message(role, text, images, tool_calls)`:

* the system prompt (a ``system`` message, Responses ``instructions``, Messages ``system``)
  is one ``Message("system", text)`` in first position;
* every user/assistant turn is one `Message` whose text is its text parts joined with ``"\\n"``
  (a plain string content is a single part) and whose images are its image parts, in order;
* the tool calls an assistant turn made (Chat ``tool_calls``, Responses ``function_call`` items
  following it, Messages ``tool_use`` blocks) ride on that turn as `CalledTool`s, their
  arguments re-encoded as compact JSON (`canonical_arguments`) and their ids left out of the
  prompt, since each protocol has its own id prefix;
* every tool result (a Chat ``tool`` message, a Responses ``function_call_output``, a Messages
  ``tool_result`` block) is one ``Message("tool", text, images)`` (Chat results are text only);
  in a Messages user turn the results come first, then the rest of the turn as a user message;
* images come only from the user's side: user turns and tool results;
* replayed reasoning (``reasoning_content``, ``thinking`` blocks, ``reasoning`` items) adds no
  text: the toy model does not re-read its own thoughts.

`validate_request` digests that sequence and counts its tokens, and maps each endpoint's wire
names back to canonical parameters before building the `Sampling`. So the same conversation
with the same canonical parameters and seed gives the same digest, hence the same text, the
same tool call (up to its id prefix), the same JSON and the same token counts on all three.

The answer (`generate_answer`): when the tools and tool_choice call for it (`decide_tool_call`
on the latest user text: nothing once the conversation ends in a tool result) the answer is one
tool call whose arguments validate against the tool's schema; otherwise, with a JSON output
format, it is JSON generated from the schema (cut by max_tokens like any answer; stop strings
do not apply); otherwise the toy model's text. Reasoning, when thinking is on, comes first in
every case. A tool call's name and arguments are output tokens; like reasoning, a call is never
cut by max_tokens, which caps the answer text only. Every free choice (which tool when the
prompt names none, the arguments, the ids, the JSON, latency jitter) draws from an rng seeded
like the generator's: from the request seed and the prompt digest, or at random without a seed.

Serving (`deliver`) adds the cost header, bills the message, and paces the answer with the
server's `LatencyModel`: the first token frame waits the time to first token, each later token
frame the per-token delay; a non-stream answer waits as long as its stream would have taken.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response, StreamingResponse

from conformance.server.billing import COST_HEADER
from conformance.server.distortions import (
    distort,
    distort_json,
    distort_tool_call,
    stall,
)
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.generator import (
    Generation,
    forced_tokens,
    generate,
    request_rng,
)
from conformance.server.latency import LatencyModel
from conformance.server.state import ServerState, new_id
from conformance.server.structured import SchemaError, generate_json
from conformance.server.tools import (
    RESPONSES_ITEM_PREFIX,
    ToolCall,
    call_id,
    decide_tool_call,
    encode_arguments,
    generate_arguments,
)
from conformance.server.validation import (
    ImageInput,
    Message,
    ValidatedRequest,
    describe,
)

STREAM_MEDIA_TYPE = "text/event-stream"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

# Reads one content part (already known to be an object of an accepted type) at `where`: returns
# its text, an image to decode, or None for a part that adds nothing; raises RequestRejected.
PartReader = Callable[[Mapping[str, Any], str], "str | ImageInput | None"]


@dataclass(frozen=True)
class Dialect:
    """What a protocol calls the neutral things `generate_answer` and `deliver` produce."""

    endpoint: str  # the contract's endpoint name, also the ledger's
    response_prefix: str  # chatcmpl-, resp_, msg_
    call_prefix: str  # call_ or toolu_
    format_param: str  # the request field holding the JSON output format, which its errors name


# ----------------------------------------------------------------------------- request reading


def require_string(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        raise RequestRejected(400, f"{where}.{key}: required", f"{where}.{key}", "missing_required_parameter")
    if not isinstance(value, str):
        raise RequestRejected(400, f"{where}.{key}: expected a string, got {describe(value)}", f"{where}.{key}",
                              "invalid_type")
    return value


def require_object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        raise RequestRejected(400, f"{where}.{key}: required", f"{where}.{key}", "missing_required_parameter")
    if not isinstance(value, Mapping):
        raise RequestRejected(400, f"{where}.{key}: expected an object, got {describe(value)}", f"{where}.{key}",
                              "invalid_type")
    return value


def text_field(key: str) -> PartReader:
    """A reader for parts that carry their text in `key`."""
    return lambda part, where: require_string(part, key, where)


def image_field(read: Callable[[Mapping[str, Any], str], tuple[Any, str]]) -> PartReader:
    """A reader for image parts: `read` returns the image's source and the wire path of that source."""

    def reader(part: Mapping[str, Any], where: str) -> ImageInput:
        source, path = read(part, where)
        return ImageInput(source, path)

    return reader


@dataclass(frozen=True)
class Content:
    text: str
    images: tuple[ImageInput, ...] = ()


def read_content(content: Any, where: str, readers: Mapping[str, PartReader]) -> Content:
    """A string or a non-empty list of typed parts, each read by the reader of its type."""
    if isinstance(content, str):
        return Content(content)
    if not isinstance(content, list) or not content:
        raise RequestRejected(400, f"{where}: expected a string or a non-empty array of content parts, "
                                   f"got {describe(content)}", where, "invalid_type")
    texts: list[str] = []
    images: list[ImageInput] = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise RequestRejected(400, f"{here}: expected a content part object, got {describe(part)}", here,
                                  "invalid_type")
        reader = readers.get(part.get("type"))
        if reader is None:
            raise RequestRejected(400, f"{here}.type: {describe(part.get('type'))} is not one of "
                                       f"{', '.join(readers)}", f"{here}.type", "invalid_value")
        read = reader(part, here)
        if isinstance(read, ImageInput):
            images.append(read)
        elif read is not None:
            texts.append(read)
    return Content("\n".join(texts), tuple(images))


def content_text(content: Any, where: str, readers: Mapping[str, PartReader]) -> str:
    """The text of content whose readers admit no images."""
    return read_content(content, where, readers).text


def read_stream_flag(body: Mapping[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestRejected(400, f"stream: expected a boolean, got {describe(stream)}", "stream", "invalid_type")
    return bool(stream)


def read_parallel_flag(body: Mapping[str, Any]) -> None:
    """OpenAI's ``parallel_tool_calls``: checked, and honoured trivially (the toy model makes one call at most)."""
    flag = body.get("parallel_tool_calls")
    if flag is not None and not isinstance(flag, bool):
        raise RequestRejected(400, f"parallel_tool_calls: expected a boolean, got {describe(flag)}",
                              "parallel_tool_calls", "invalid_type")


def canonical_arguments(arguments: Any) -> str:
    """Replayed tool-call arguments as the prompt sees them: compact JSON when they are JSON.

    Chat and Responses replay a JSON string, Messages an object; re-encoding both the same way
    makes the same call the same prompt everywhere. Text that is not JSON is kept as sent.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments
    return encode_arguments(arguments) if isinstance(arguments, Mapping) else compact_json(arguments)


class CallBook:
    """The tool calls a conversation has made so far, so each tool result can be matched to one."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def called(self, ids: Iterable[str], *, forget_earlier: bool = False) -> None:
        # Messages only lets a result answer the previous assistant turn: that turn replaces the rest.
        if forget_earlier:
            self._ids.clear()
        self._ids.update(ids)

    def answer(self, call: str, where: str, made_by: str) -> None:
        """Raise a 400 naming `where` unless `call` is the id of a call made earlier (`made_by` says where)."""
        if call not in self._ids:
            raise RequestRejected(400, f"{where}: {call!r} does not match the id of any tool call in {made_by}",
                                  where, "invalid_value")


def tool_prompt(messages: Iterable[Message]) -> str:
    """What decides a tool call: the latest user text, or nothing once the conversation ends in a tool result."""
    text = ""
    for message in messages:
        if message.role == "user":
            text = message.text
        elif message.role == "tool":
            text = ""
    return text


# ----------------------------------------------------------------------------- the answer


@dataclass(frozen=True)
class Answer:
    """A validated request and what the model produced for it: what every response body is made of."""

    id: str
    created: int
    model: str
    request: ValidatedRequest
    generation: Generation  # with a tool call, its reasoning only
    faults: Faults
    tool_call: ToolCall | None = None

    @property
    def input_tokens(self) -> int:
        return self.request.prompt_tokens

    @property
    def output_tokens(self) -> int:
        """Answer, reasoning and tool-call tokens: every protocol bills reasoning as output."""
        return self.generation.completion_tokens + (self.tool_call.tokens if self.tool_call else 0)

    def rng(self, domain: bytes) -> random.Random:
        return _rng(self.request, domain)


def _rng(request: ValidatedRequest, domain: bytes) -> random.Random:
    # Each use draws from its own domain, so e.g. jitter never shifts a tool call's arguments.
    return request_rng(request.sampling.seed, domain, request.prompt_digest)


def generate_answer(request: ValidatedRequest, state: ServerState, faults: Faults, dialect: Dialect) -> Answer:
    generation = generate(request.prompt_digest, request.sampling)
    call = _tool_call(request, faults, dialect)
    if call is not None:
        # The decision to call replaces the text answer; the reasoning that led to it stays.
        generation = dataclasses.replace(generation, answer=(), finish_reason="tool_calls", stop_sequence=None)
    elif request.output_format.is_json and "structured_not_json" not in faults:
        generation = _structured(generation, request, faults, dialect)
    # Generation-level faults bend what the model says the same way on every endpoint.
    return Answer(id=new_id(dialect.response_prefix), created=int(time.time()), model=state.contract.model,
                  request=request, generation=distort(generation, faults), faults=faults, tool_call=call)


def _tool_call(request: ValidatedRequest, faults: Faults, dialect: Dialect) -> ToolCall | None:
    if "tool_choice_ignored" in faults and request.tool_choice.mode in ("required", "named"):
        return None
    rng = _rng(request, b"tool-call")
    tool = decide_tool_call(request.tools, request.tool_choice, tool_prompt(request.messages), rng)
    if tool is None:
        return None
    try:
        arguments = encode_arguments(generate_arguments(tool.parameters, rng))
    except SchemaError as exc:  # a schema check_schema passed that still admits no value (overlapping oneOf)
        raise RequestRejected(400, f"tools: cannot call {tool.name!r}: {exc}", "tools", exc.code) from None
    call = ToolCall(id=call_id(dialect.call_prefix, rng), item_id=call_id(RESPONSES_ITEM_PREFIX, rng),
                    name=tool.name, arguments=arguments)
    return distort_tool_call(call, tool, request.tools, faults)


def _structured(generation: Generation, request: ValidatedRequest, faults: Faults, dialect: Dialect) -> Generation:
    fmt = request.output_format
    text = generate_json(fmt, _rng(request, b"structured"), dialect.format_param)
    tokens = forced_tokens(distort_json(text, fmt.schema, faults), request.sampling.top_logprobs)
    cap = request.sampling.max_tokens
    return dataclasses.replace(generation, answer=tokens[:cap], stop_sequence=None,
                               finish_reason="length" if len(tokens) > cap else "stop")


# ----------------------------------------------------------------------------- serving


@dataclass(frozen=True)
class Frame:
    """One SSE frame; a token frame carries generated text and is paced by the latency model."""

    data: bytes
    token: bool = False


def compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse_frame(data: Any, event: str | None = None, *, token: bool = False) -> Frame:
    """One SSE frame: an optional ``event:`` line, one ``data:`` line (JSON unless already a string)."""
    payload = data if isinstance(data, str) else compact_json(data)
    head = f"event: {event}\n" if event is not None else ""
    return Frame(f"{head}data: {payload}\n\n".encode(), token)


def sse_response(frames: list[Frame], on_delivered: Callable[[], object], *, latency: LatencyModel,
                 rng: random.Random, headers: Mapping[str, str], media_type: str) -> StreamingResponse:
    """Stream `frames`, paced by `latency`; `on_delivered` runs only once the last frame went out (billing)."""

    async def send() -> AsyncIterator[bytes]:
        first = True
        for frame in frames[:-1]:
            if frame.token:
                await (latency.wait_first(rng) if first else latency.wait_token(rng))
                first = False
            yield frame.data
            await asyncio.sleep(0)  # each frame reaches the socket on its own, like a real token stream
        if frames[-1].token:
            await (latency.wait_first(rng) if first else latency.wait_token(rng))
        yield frames[-1].data
        # Billed before any further await: a hang-up noticed there would cancel the stream, and
        # a client that closes on reading the terminator has received the whole message.
        on_delivered()

    # An explicit header keeps Starlette from appending "; charset=utf-8" to the media type.
    return StreamingResponse(send(), headers={**SSE_HEADERS, **headers, "Content-Type": media_type})


async def deliver(state: ServerState, dialect: Dialect, answer: Answer, body: Callable[[], Any],
                  frames: Callable[[], list[Frame]], *, media_type: str = STREAM_MEDIA_TYPE) -> Response:
    """The answer as a JSON body or an SSE stream, with its cost header, billed once delivered."""
    await stall(answer.faults)
    headers = {COST_HEADER: state.ledger.quote()}
    pace = answer.rng(b"latency")

    def bill() -> None:
        state.ledger.record_message(dialect.endpoint, answer.id)

    if answer.request.stream:
        return sse_response(frames(), bill, latency=state.latency, rng=pace, headers=headers, media_type=media_type)
    await state.latency.wait_answer(answer.output_tokens, pace)
    bill()
    return Response(json.dumps(body(), ensure_ascii=False), media_type="application/json", headers=headers)
