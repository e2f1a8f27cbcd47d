"""Protocol-neutral pieces of an endpoint: running the toy model, reading content parts, serving SSE.

Cross-endpoint equivalence. Chat Completions, Responses and Messages spell a conversation
differently, but each protocol's reader reduces it to the same canonical sequence of
`Message(role, text)`:

* the system prompt (a ``system`` message, Responses ``instructions``, Messages ``system``)
  is one ``Message("system", text)`` in first position;
* every user/assistant turn is one `Message` whose text is its text parts joined with ``"\\n"``
  (a plain string content is a single part);
* images and replayed reasoning (``reasoning_content``, ``thinking`` blocks, ``reasoning``
  items) add no text: the toy model neither sees pixels nor re-reads its own thoughts.

`validate_request` digests that sequence (`digest_prompt`) and counts its tokens, and maps each
endpoint's wire names back to canonical parameters before building the `Sampling`. So the same
conversation with the same canonical parameters and seed gives the same digest, the same
`Sampling`, hence the same generated text and the same token counts on all three endpoints.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse

from conformance.server.chat_completions import SSE_HEADERS
from conformance.server.distortions import distort
from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.generator import Generation, generate
from conformance.server.state import ServerState, new_id
from conformance.server.validation import ValidatedRequest, describe

STREAM_MEDIA_TYPE = "text/event-stream"

# Reads one content part (already known to be an object of an accepted type) at `where`:
# returns its text, or None for a part the model does not read (an image); raises RequestRejected.
PartReader = Callable[[Mapping[str, Any], str], "str | None"]


@dataclass(frozen=True)
class Answer:
    """A validated request and what the model generated for it: what every response body is made of."""

    id: str
    created: int
    model: str
    request: ValidatedRequest
    generation: Generation
    faults: Faults

    @property
    def input_tokens(self) -> int:
        return self.request.prompt_tokens

    @property
    def output_tokens(self) -> int:
        """Answer plus reasoning tokens: every protocol bills reasoning as output."""
        return self.generation.completion_tokens


def generate_answer(request: ValidatedRequest, state: ServerState, faults: Faults, id_prefix: str) -> Answer:
    # Generation-level faults bend what the model says the same way on every endpoint.
    generation = distort(generate(request.prompt_digest, request.sampling), faults)
    return Answer(id=new_id(id_prefix), created=int(time.time()), model=state.contract.model, request=request,
                  generation=generation, faults=faults)


# ----------------------------------------------------------------------------- request reading


def require_string(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        raise RequestRejected(400, f"{where}.{key}: required", f"{where}.{key}", "missing_required_parameter")
    if not isinstance(value, str):
        raise RequestRejected(400, f"{where}.{key}: expected a string, got {describe(value)}", f"{where}.{key}",
                              "invalid_type")
    return value


def text_field(key: str) -> PartReader:
    """A reader for parts that carry their text in `key`."""
    return lambda part, where: require_string(part, key, where)


def content_text(content: Any, where: str, readers: Mapping[str, PartReader]) -> str:
    """The text of a string or a non-empty list of typed parts, each read by the reader of its type."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise RequestRejected(400, f"{where}: expected a string or a non-empty array of content parts, "
                                   f"got {describe(content)}", where, "invalid_type")
    texts: list[str] = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise RequestRejected(400, f"{here}: expected a content part object, got {describe(part)}", here,
                                  "invalid_type")
        reader = readers.get(part.get("type"))
        if reader is None:
            raise RequestRejected(400, f"{here}.type: {describe(part.get('type'))} is not one of "
                                       f"{', '.join(readers)}", f"{here}.type", "invalid_value")
        text = reader(part, here)
        if text is not None:
            texts.append(text)
    return "\n".join(texts)


def read_stream_flag(body: Mapping[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestRejected(400, f"stream: expected a boolean, got {describe(stream)}", "stream", "invalid_type")
    return bool(stream)


# ----------------------------------------------------------------------------- serving


def compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse_frame(data: Any, event: str | None = None) -> bytes:
    """One SSE frame: an optional ``event:`` line, one ``data:`` line (JSON unless already a string)."""
    payload = data if isinstance(data, str) else compact_json(data)
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {payload}\n\n".encode()


def sse_response(frames: list[bytes], on_delivered: Callable[[], object]) -> StreamingResponse:
    """Stream `frames`; `on_delivered` runs only once the last frame went out (e.g. to bill the message)."""

    async def send() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame
            await asyncio.sleep(0)  # each frame reaches the socket on its own, like a real token stream
        on_delivered()

    # An explicit header keeps Starlette from appending "; charset=utf-8" to the media type.
    return StreamingResponse(send(), headers={**SSE_HEADERS, "Content-Type": STREAM_MEDIA_TYPE})
