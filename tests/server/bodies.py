"""The three protocols' request bodies spelled out by hand, and readers for what comes back.

Tests of tools, structured output and images send each protocol's own shapes (not the harness's
request builder), so a spelling the server misreads shows up here. Every exchange goes through
the harness's client in-process, and `problems` runs the harness's grammar checkers on it.
"""
from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conformance.protocols import wire_protocols
from conformance.protocols.base import ChatRequest, Turn
from conformance.secrets import Secret
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Client, Exchange

CONTRACT = load_contract(DEFAULT_CONTRACT)
WIRES = wire_protocols(CONTRACT)
CHAT, RESPONSES, MESSAGES = "chat_completions", "responses", "messages"
ENDPOINTS = (CHAT, RESPONSES, MESSAGES)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# Chat shape, as the fixtures store them.
TOOLS: dict[str, dict[str, Any]] = {p.stem: json.loads(p.read_text()) for p in (FIXTURES / "tools").glob("*.json")}
SCHEMAS: dict[str, dict[str, Any]] = {p.stem: json.loads(p.read_text()) for p in (FIXTURES / "schemas").glob("*.json")}
CALL_PREFIX = {CHAT: "call_", RESPONSES: "call_", MESSAGES: "toolu_"}
TOOL_FINISH = {CHAT: "tool_calls", RESPONSES: "completed", MESSAGES: "tool_use"}


def send(app: Any, endpoint: str, body: Any, *, stream: bool = False, key: str | None = None) -> Exchange:
    """One request through the harness's own client (in-process), as the checks send it."""
    async def go() -> Exchange:
        secret = Secret(key, "test") if key is not None else None
        async with Client("http://ref/v1", secret, transport=httpx.ASGITransport(app=app)) as client:
            return await client.send(CONTRACT.endpoints[endpoint], body, stream=stream)

    return asyncio.run(go())


def problems(endpoint: str, ex: Exchange) -> list[str]:
    """What the harness's grammar checker finds wrong with an answer (stream or body)."""
    assert ex.status == 200, ex.body
    wire = WIRES[endpoint]
    if ex.stream:
        return wire.stream_problems(ex, ChatRequest([Turn("user", "-")], stream=True))
    return wire.shape_problems(ex.json())


# ----------------------------------------------------------------------------- requests


def image_base64(name: str = "shapes.png") -> str:
    """A fixture image as raw base64 (Anthropic's source.data)."""
    return base64.b64encode((FIXTURES / "images" / name).read_bytes()).decode("ascii")


def media_type(name: str) -> str:
    return {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}[name.rsplit(".", 1)[1]]


def image_data_uri(name: str = "shapes.png") -> str:
    """A fixture image as a data URI (OpenAI's image_url)."""
    return f"data:{media_type(name)};base64,{image_base64(name)}"


def image_part(endpoint: str, image: str) -> dict[str, Any]:
    """An image content part: a fixture file name, or anything else as a URL / raw data as given."""
    url = image_data_uri(image) if (FIXTURES / "images" / image).is_file() else image
    if endpoint == CHAT:
        return {"type": "image_url", "image_url": {"url": url}}
    if endpoint == RESPONSES:
        return {"type": "input_image", "image_url": url, "detail": "auto"}
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return {"type": "image", "source": {"type": "base64", "media_type": head[5:].split(";")[0], "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def user(endpoint: str, text: str, *images: str) -> dict[str, Any]:
    if not images:
        return {"role": "user", "content": text}
    kind = "input_text" if endpoint == RESPONSES else "text"
    return {"role": "user", "content": [{"type": kind, "text": text}, *(image_part(endpoint, i) for i in images)]}


def body(endpoint: str, *turns: dict[str, Any] | str, **fields: Any) -> dict[str, Any]:
    """A request: strings are user turns; Messages gets a max_tokens unless one is given."""
    items = [user(endpoint, t) if isinstance(t, str) else t for t in turns]
    out: dict[str, Any] = {"model": CONTRACT.model, "input" if endpoint == RESPONSES else "messages": items}
    if endpoint == MESSAGES:
        out["max_tokens"] = 400
    return {**out, **fields}


def tools(endpoint: str, *names: str) -> list[dict[str, Any]]:
    """Fixture tools in the endpoint's spelling (WIRE.md F "Tool def")."""
    functions = [TOOLS[n]["function"] for n in names]
    if endpoint == CHAT:
        return [TOOLS[n] for n in names]
    if endpoint == RESPONSES:
        return [{"type": "function", **f} for f in functions]
    return [{"name": f["name"], "description": f["description"], "input_schema": f["parameters"]} for f in functions]


def tool_choice(endpoint: str, mode: str, name: str | None = None) -> Any:
    """A tool_choice in the endpoint's spelling: none, auto, required, or named."""
    if endpoint == MESSAGES:
        return {"type": "tool", "name": name} if mode == "named" else {"type": {"required": "any"}.get(mode, mode)}
    if mode != "named":
        return mode
    return {"type": "function", "function": {"name": name}} if endpoint == CHAT else {"type": "function", "name": name}


def json_format(endpoint: str, schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    """The request fields asking for JSON validating against `schema` (WIRE.md F "JSON schema output")."""
    if endpoint == CHAT:
        return {"response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}}
    if endpoint == RESPONSES:
        return {"text": {"format": {"type": "json_schema", "name": name, "schema": schema}}}
    return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}


# ----------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str  # as the OpenAI protocols carry it; Messages' input re-encoded compactly

    @property
    def suffix(self) -> str:
        return self.id.partition("_")[2]

    def parsed(self) -> Any:
        return json.loads(self.arguments)


def call_of(endpoint: str, ex: Exchange) -> Call | None:
    """The tool call an answer made, read straight off the wire (streams accumulated as the SDKs do)."""
    calls = _stream_calls(endpoint, ex) if ex.stream else _body_calls(endpoint, ex.json())
    assert len(calls) <= 1, calls
    return calls[0] if calls else None


def _body_calls(endpoint: str, b: dict[str, Any]) -> list[Call]:
    if endpoint == CHAT:
        return [Call(c["id"], c["function"]["name"], c["function"]["arguments"])
                for c in b["choices"][0]["message"].get("tool_calls") or []]
    if endpoint == RESPONSES:
        return [Call(i["call_id"], i["name"], i["arguments"]) for i in b["output"] if i["type"] == "function_call"]
    return [Call(c["id"], c["name"], _compact(c["input"])) for c in b["content"] if c["type"] == "tool_use"]


def _stream_calls(endpoint: str, ex: Exchange) -> list[Call]:
    events = [json.loads(t.event.data) for t in ex.events if t.event.data != "[DONE]"]
    if endpoint == RESPONSES:
        return _body_calls(endpoint, events[-1]["response"])
    calls: dict[int, dict[str, str]] = {}
    for e in events:
        if endpoint == CHAT:
            for f in (e["choices"][0]["delta"].get("tool_calls") or []) if e["choices"] else []:
                call = calls.setdefault(f["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] += f.get("id") or ""
                call["name"] += f.get("function", {}).get("name") or ""
                call["arguments"] += f.get("function", {}).get("arguments") or ""
        elif e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use":
            calls[e["index"]] = {"id": e["content_block"]["id"], "name": e["content_block"]["name"], "arguments": ""}
        elif e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
            calls[e["index"]]["arguments"] += e["delta"]["partial_json"]
    return [Call(**c) for _, c in sorted(calls.items())]


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_of(endpoint: str, ex: Exchange) -> str:
    wire = WIRES[endpoint]
    return (wire.stream_reply(ex) if ex.stream else wire.reply(ex.json())).text


def finish_of(endpoint: str, ex: Exchange) -> str | None:
    wire = WIRES[endpoint]
    return (wire.stream_reply(ex) if ex.stream else wire.reply(ex.json())).finish_reason


def input_tokens(endpoint: str, ex: Exchange) -> int:
    usage = ex.json()["usage"]
    return usage["prompt_tokens" if endpoint == CHAT else "input_tokens"]


def replay(endpoint: str, prompt: str, call: Call, result: str) -> list[dict[str, Any]]:
    """The conversation after `call`: the prompt, the assistant's call, and `result` answering it."""
    if endpoint == CHAT:
        return [user(endpoint, prompt),
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]},
                {"role": "tool", "tool_call_id": call.id, "content": result}]
    if endpoint == RESPONSES:
        return [user(endpoint, prompt),
                {"type": "function_call", "call_id": call.id, "name": call.name, "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.id, "output": result}]
    return [user(endpoint, prompt),
            {"role": "assistant", "content": [{"type": "tool_use", "id": call.id, "name": call.name,
                                               "input": call.parsed()}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": result}]}]
