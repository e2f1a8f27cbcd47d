"""Hot-path benchmarks (pytest-benchmark): `pytest benchmarks/ --benchmark-only`.

Not part of `make test`: they time, they do not assert behaviour. Compare runs with
`--benchmark-autosave` and `--benchmark-compare` to see a slowdown in a hot path.
Streams are recorded once per session from the reference server (in-process, no socket).
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import httpx
import pytest

from conformance.bench.bodies import chat_request
from conformance.bench.scenario import Distribution, Load, RequestSpec, Scenario
from conformance.protocols import wire_protocols
from conformance.protocols.base import ChatRequest, WireProtocol
from conformance.secrets import Secret
from conformance.server.app import create_app
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Client, Exchange

ENDPOINTS = ("chat_completions", "responses", "messages")


@dataclass
class Recorded:
    wire: WireProtocol
    request: ChatRequest
    exchange: Exchange
    raw: bytes  # the stream's bytes as they came over the wire
    frames: list[bytes]


def _scenario() -> Scenario:
    return Scenario("bench", ENDPOINTS, True, RequestSpec(Distribution("fixed", (64,)), Distribution("fixed", (64,)),
                                                          thinking=True),
                    Load("concurrency", (1.0,), 1.0), {}, "")


@pytest.fixture(scope="session")
def recorded() -> dict[str, Recorded]:
    contract = load_contract(DEFAULT_CONTRACT)
    app = create_app(contract)
    wires = wire_protocols(contract)
    out: dict[str, Recorded] = {}

    async def go() -> None:
        client = Client("http://reference/v1", Secret("bench-key", "benchmarks"),
                        transport=httpx.ASGITransport(app=app))
        raw_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reference")
        try:
            for endpoint in ENDPOINTS:
                wire = wires[endpoint]
                request = chat_request(_scenario(), contract, endpoint, 64, 64, random.Random(1))
                body = wire.body(request)
                exchange = await client.send(wire.protocol, body, stream=True, is_content=wire.is_content)
                r = await raw_client.post(wire.protocol.path, json=body,
                                          headers={"authorization": "Bearer k", "x-api-key": "k",
                                                   "anthropic-version": "2023-06-01"})
                frames = [f + b"\n\n" for f in r.content.split(b"\n\n") if f.strip()]
                out[endpoint] = Recorded(wire, request, exchange, r.content, frames)
        finally:
            await client.aclose()
            await raw_client.aclose()
    asyncio.run(go())
    return out
