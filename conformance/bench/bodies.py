"""Request variants: the scenario's distributions drawn once, each turned into ready HTTP bytes.

A run sends only pre-built requests: drawing lengths, building protocol bodies and JSON
encoding happen before the clock starts, so none of it sits on the hot path. Each variant is
one endpoint's body with one prompt length and one output cap; requests cycle through them.

Prompts are spelled so that the reference server's token counter (`conformance.server.tokens`:
one token per word, 4 per message, 3 for the reply primer) counts exactly the drawn number;
on any other server the drawn number is a target and the server's usage says what it counted.
"""
from __future__ import annotations

import base64
import io
import json
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conformance.bench.scenario import Scenario
from conformance.protocols import wire_protocols
from conformance.protocols.base import ChatRequest, ImagePart, ToolDef, Turn
from conformance.suite.model import Contract
from conformance.transport.client import ANTHROPIC_VERSION, endpoint_url

_WORDS = ("sea", "wave", "light", "quiet", "river", "stone", "wind", "cloud", "shore", "tide", "moon", "song")
_OVERHEAD_TOKENS = 7  # one message (4) and the reply primer (3)
TOOL = ToolDef("get_weather", "Current weather for a city.",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@dataclass(frozen=True)
class Target:
    """Where requests go: scheme, host, port and the base path, parsed once."""

    scheme: str
    host: str
    port: int
    base_url: str

    @classmethod
    def parse(cls, base_url: str) -> Target:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) base URL, got {base_url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, base_url)


@dataclass(frozen=True)
class Variant:
    index: int
    endpoint: str
    prompt_tokens: int  # as drawn (the target); the server's usage says what it counted
    max_tokens: int
    wire: bytes  # the whole HTTP/1.1 request, head and body

    def describe(self) -> dict[str, Any]:
        return {"index": self.index, "endpoint": self.endpoint, "prompt_tokens": self.prompt_tokens,
                "max_tokens": self.max_tokens, "bytes": len(self.wire)}


def prompt_text(tokens: int, rng: random.Random) -> str:
    n = max(1, tokens - _OVERHEAD_TOKENS)
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def tiny_png(seed: int) -> str:
    from PIL import Image

    rng = random.Random(seed)
    img = Image.new("RGB", (8, 8), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def thinking_params(contract: Contract, endpoint: str, on: bool) -> dict[str, Any]:
    params = contract.parameters
    if "enable_thinking" in params and params["enable_thinking"].binding(endpoint).supported:
        return {"enable_thinking": on}
    if "reasoning_effort" in params and params["reasoning_effort"].binding(endpoint).supported:
        enabling = contract.features.get("thinking", {}).get("enabled_by_reasoning_effort", ["medium", "high"])
        values = list(params["reasoning_effort"].values or [])
        off = [v for v in values if v not in enabling]
        return {"reasoning_effort": enabling[0] if on else (off[0] if off else values[0])}
    return {}


def chat_request(scenario: Scenario, contract: Contract, endpoint: str, prompt_tokens: int, max_tokens: int,
                 rng: random.Random) -> ChatRequest:
    spec = scenario.request
    images = tuple(ImagePart("image/png", tiny_png(rng.randrange(1 << 30))) for _ in range(spec.images))
    params: dict[str, Any] = {"max_tokens": max_tokens}
    if spec.thinking is not None:
        params.update(thinking_params(contract, endpoint, spec.thinking))
    if spec.tools:
        params["tools"] = [TOOL]
    params.update(spec.params)
    return ChatRequest([Turn("user", prompt_text(prompt_tokens, rng), images=images)], params=params,
                       stream=scenario.stream, include_usage=scenario.stream)


def http_request(target: Target, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    url = urlsplit(endpoint_url(target.base_url, path))
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    lines = [f"{method} {url.path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def build_variants(scenario: Scenario, contract: Contract, target: Target, api_key: str | None,
                   model: str | None = None) -> list[Variant]:
    """`request.variants` bodies, endpoints taken in turn, lengths drawn with the scenario's seed."""
    rng = random.Random(scenario.load.seed)
    wires = wire_protocols(contract)
    variants = []
    for i in range(scenario.request.variants):
        endpoint = scenario.endpoints[i % len(scenario.endpoints)]
        wire = wires[endpoint]
        prompt = scenario.request.prompt_tokens.draw(rng)
        out = scenario.request.output_tokens.draw(rng)
        request = chat_request(scenario, contract, endpoint, prompt, out, rng)
        if model:
            request.model = model
        body = json.dumps(wire.body(request), separators=(",", ":")).encode()
        protocol = wire.protocol
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if scenario.stream else "application/json"}
        if protocol.family == "anthropic":
            headers["anthropic-version"] = ANTHROPIC_VERSION
        if api_key:
            if protocol.auth_schemes[0] == "x-api-key":
                headers["x-api-key"] = api_key
            else:
                headers["Authorization"] = f"Bearer {api_key}"
        variants.append(Variant(i, endpoint, prompt, out, http_request(target, protocol.method, protocol.path,
                                                                      headers, body)))
    return variants
