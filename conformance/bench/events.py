"""What each SSE event of a finished request was, decided after the request ended.

Kinds, one letter each (the raw-sample file stores a request's kinds as one string):

=====  ==========================================================================================
``m``  metadata: role-only chunks, ``response.created``, ``message_start``, block starts/stops,
       pings, empty deltas — no generated token
``t``  a reasoning (thinking) token
``c``  an answer-content token
``f``  a tool-call token (function name or argument fragment)
``u``  usage only (chat's final usage chunk, Anthropic's ``message_delta``)
``d``  the terminator (``[DONE]``, ``response.completed``/``incomplete``, ``message_stop``)
``e``  an error event inside the stream (``response.failed``, Anthropic ``error``, an
       ``{"error": ...}`` chunk)
=====  ==========================================================================================

Classification looks at bytes only (`bytes.find`), with no JSON decoding; only the events
that carry usage are decoded, once per request. `usage` returns the server's token counts
with their source, or the count of generated-token events when the server reported none.
"""
from __future__ import annotations

import json
import re
from typing import Any

GENERATED = frozenset("tcf")  # kinds that carry a generated token

_CHAT, _RESPONSES, _MESSAGES = "chat_completions", "responses", "messages"


def _nonempty_string(frame: bytes, key: bytes) -> bool:
    """True when `"key": "<at least one char>"` occurs in the frame (compact or spaced JSON)."""
    start = 0
    n = len(key)
    while True:
        at = frame.find(key, start)
        if at < 0:
            return False
        i = at + n
        # skip optional spaces after the colon
        while i < len(frame) and frame[i] == 0x20:
            i += 1
        if frame[i:i + 1] == b'"' and frame[i + 1:i + 2] != b'"':
            return True
        start = at + n


def _event_type(frame: bytes) -> bytes:
    """The `event:` line's value, or the first `"type"` in the data (empty when neither)."""
    at = 0 if frame.startswith(b"event:") else frame.find(b"\nevent:") + 1
    if at > 0 or frame.startswith(b"event:"):
        eol = frame.find(b"\n", at)
        return frame[at + 6:eol].strip()
    at = frame.find(b'"type":')
    if at < 0:
        return b""
    i = frame.find(b'"', at + 7)
    j = frame.find(b'"', i + 1)
    return frame[i + 1:j] if i >= 0 and j > i else b""


# One C-level search per chat frame: the first non-empty generated-text field decides.
_CHAT_TOKEN = re.compile(rb'"(content|reasoning_content|reasoning|arguments|name)":\s*"[^"]')
_CHAT_KIND = {b"content": "c", b"reasoning_content": "t", b"reasoning": "t", b"arguments": "f", b"name": "f"}


def classify_chat(frame: bytes) -> str:
    if b"[DONE]" in frame:
        return "d"
    m = _CHAT_TOKEN.search(frame)
    if m is not None:
        kind = _CHAT_KIND[m.group(1)]
        # a "name" outside a tool call (e.g. a model name) is not a token
        if kind != "f" or b'"tool_calls"' in frame:
            return kind
    if b'"usage":{' in frame or b'"usage": {' in frame:
        return "u"
    if b'"error":' in frame and b'"choices"' not in frame:
        return "e"
    return "m"


_RESPONSES_KINDS = {
    b"response.output_text.delta": "c",
    b"response.reasoning_text.delta": "t",
    b"response.reasoning_summary_text.delta": "t",
    b"response.function_call_arguments.delta": "f",
    b"response.completed": "d",
    b"response.incomplete": "d",
    b"response.failed": "e",
    b"error": "e",
}


def classify_responses(frame: bytes) -> str:
    kind = _RESPONSES_KINDS.get(_event_type(frame), "m")
    if kind in "ctf" and not _nonempty_string(frame, b'"delta":'):
        return "m"
    return kind


def classify_messages(frame: bytes) -> str:
    etype = _event_type(frame)
    if etype == b"content_block_delta":
        if b'"text_delta"' in frame:
            return "c" if _nonempty_string(frame, b'"text":') else "m"
        if b'"thinking_delta"' in frame:
            return "t" if _nonempty_string(frame, b'"thinking":') else "m"
        if b'"input_json_delta"' in frame:
            return "f" if _nonempty_string(frame, b'"partial_json":') else "m"
        return "m"
    if etype == b"message_delta":
        return "u"
    if etype == b"message_stop":
        return "d"
    if etype == b"error":
        return "e"
    return "m"


CLASSIFIERS = {_CHAT: classify_chat, _RESPONSES: classify_responses, _MESSAGES: classify_messages}


def classify(endpoint: str, frames: list[bytes]) -> str:
    fn = CLASSIFIERS[endpoint]
    return "".join(fn(f) for f in frames)


def _data(frame: bytes) -> Any:
    """The JSON of an event's data lines, or None."""
    at = frame.find(b"data:")
    if at < 0:
        return None
    end = frame.find(b"\n", at)
    try:
        if frame.find(b"\ndata:", at + 5) < 0:  # one data line: the common case
            return json.loads(frame[at + 5:end if end >= 0 else len(frame)])
        parts = []
        for line in frame.splitlines():
            if line.startswith(b"data:"):
                value = line[5:]
                parts.append(value[1:] if value.startswith(b" ") else value)
        return json.loads(b"\n".join(parts))
    except ValueError:
        return None


def _ints(**values: Any) -> dict[str, int | None]:
    return {k: (v if isinstance(v, int) and not isinstance(v, bool) else None) for k, v in values.items()}


def stream_usage(endpoint: str, frames: list[bytes], kinds: str) -> dict[str, Any] | None:
    """Token counts the server reported in the stream, or None."""
    if endpoint == _CHAT:
        for frame, kind in zip(reversed(frames), reversed(kinds)):
            if kind in "uc" and b'"usage":' in frame:
                data = _data(frame)
                usage = data.get("usage") if isinstance(data, dict) else None
                if isinstance(usage, dict):
                    return _chat_usage(usage)
        return None
    if endpoint == _RESPONSES:
        for frame, kind in zip(reversed(frames), reversed(kinds)):
            if kind in "de":
                data = _data(frame)
                response = data.get("response") if isinstance(data, dict) else None
                usage = response.get("usage") if isinstance(response, dict) else None
                if isinstance(usage, dict):
                    return _responses_usage(usage)
        return None
    # messages: input tokens on message_start, cumulative output tokens on message_delta
    input_tokens = output_tokens = None
    for frame, kind in zip(frames, kinds):
        if kind == "u" or (kind == "m" and b"message_start" in frame[:40]):
            data = _data(frame)
            if not isinstance(data, dict):
                continue
            usage = data.get("usage") or (data.get("message") or {}).get("usage") or {}
            if isinstance(usage.get("input_tokens"), int):
                input_tokens = usage["input_tokens"]
            if isinstance(usage.get("output_tokens"), int) and kind == "u":
                output_tokens = usage["output_tokens"]
    if input_tokens is None and output_tokens is None:
        return None
    return _ints(input=input_tokens, output=output_tokens, reasoning=None)


def body_usage(endpoint: str, body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    if endpoint == _CHAT:
        return _chat_usage(usage)
    if endpoint == _RESPONSES:
        return _responses_usage(usage)
    return _ints(input=usage.get("input_tokens"), output=usage.get("output_tokens"), reasoning=None)


def _chat_usage(usage: dict[str, Any]) -> dict[str, Any]:
    details = usage.get("completion_tokens_details") or {}
    return _ints(input=usage.get("prompt_tokens"), output=usage.get("completion_tokens"),
                 reasoning=details.get("reasoning_tokens") if isinstance(details, dict) else None)


def _responses_usage(usage: dict[str, Any]) -> dict[str, Any]:
    details = usage.get("output_tokens_details") or {}
    return _ints(input=usage.get("input_tokens"), output=usage.get("output_tokens"),
                 reasoning=details.get("reasoning_tokens") if isinstance(details, dict) else None)
