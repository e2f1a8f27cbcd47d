"""Shape snapshots: one per named scenario × endpoint, against the in-process reference server.

A failure here means an answer changed *shape* (a key, a type, an enum value, the order of
stream events), not merely its text: review the diff, then accept it with
``pytest tests/snapshots --snapshot-update``. An endpoint newly registered in
`conformance.protocols` has no snapshots yet, so its tests fail until that update is run.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from syrupy.assertion import SnapshotAssertion

from conformance.checks.probe import PROMPT, SEED
from conformance.protocols import wire_protocols
from conformance.protocols.base import ChatRequest, Turn, WireProtocol
from conformance.secrets import Secret
from conformance.server.app import create_app
from conformance.shapes import ShapeSnapshotExtension
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.suite.model import Contract
from conformance.transport.client import Client, Exchange
from tests.conftest import TEST_KEY

CONTRACT = load_contract(DEFAULT_CONTRACT)


def _supported(contract: Contract, endpoint: str, parameter: str) -> bool:
    param = contract.parameters.get(parameter)
    return param is not None and param.binding(endpoint).supported


# Every scenario pins the seed, so the toy model gives the same answer on every run, and asks
# for room enough to end naturally: a natural stop and a cut answer are different shapes, and
# /v1/messages would otherwise get the protocol's required max_tokens, the short probe budget.
BASE_PARAMS = {"seed": SEED, "max_tokens": 256}


def _request(**params: Any) -> Callable[[Contract, str], ChatRequest | None]:
    stream = bool(params.pop("stream", False))
    include_usage = bool(params.pop("include_usage", False))

    def build(contract: Contract, endpoint: str) -> ChatRequest | None:
        if not all(_supported(contract, endpoint, name) for name in params):
            return None
        sent = {**{k: v for k, v in BASE_PARAMS.items() if _supported(contract, endpoint, k)}, **params}
        return ChatRequest([Turn("user", PROMPT)], params=sent, stream=stream, include_usage=include_usage)
    return build


def _thinking_off(contract: Contract, endpoint: str) -> ChatRequest | None:
    # Whichever switch the endpoint offers: enable_thinking, else the effort that turns it off.
    for params in ({"enable_thinking": False}, {"reasoning_effort": "low"}):
        request = _request(**params)(contract, endpoint)
        if request is not None:
            return request
    return None


def _bad_temperature(contract: Contract, endpoint: str) -> ChatRequest | None:
    maximum = contract.parameters["temperature"].maximum
    return _request(temperature=(maximum or 2) + 1)(contract, endpoint)


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[Contract, str], ChatRequest | None]  # None: the endpoint does not offer it


SCENARIOS = (
    Scenario("plain", _request()),
    Scenario("stream", _request(stream=True)),
    Scenario("stream_with_usage", _request(stream=True, include_usage=True)),
    Scenario("thinking_off", _thinking_off),
    Scenario("logprobs", _request(logprobs=True, top_logprobs=2)),
    Scenario("error_bad_temperature", _bad_temperature),
    Scenario("max_tokens_cut", _request(max_tokens=4)),
)

CASES = [pytest.param(endpoint, scenario, id=f"{endpoint}-{scenario.name}")
         for endpoint in wire_protocols(CONTRACT) for scenario in SCENARIOS
         if scenario.build(CONTRACT, endpoint) is not None]


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(CONTRACT, api_key=TEST_KEY)


@pytest.fixture
def shape_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(ShapeSnapshotExtension)


def exchange_for(app: Any, wire: WireProtocol, request: ChatRequest) -> Exchange:
    async def go() -> Exchange:
        async with Client("http://reference/v1", Secret(TEST_KEY, "test"),
                          transport=httpx.ASGITransport(app=app)) as client:
            return await client.send(wire.protocol, wire.body(request), stream=request.stream,
                                     is_content=wire.is_content)
    return asyncio.run(go())


@pytest.mark.parametrize(("endpoint", "scenario"), CASES)
def test_response_shape(app: Any, endpoint: str, scenario: Scenario, shape_snapshot: SnapshotAssertion) -> None:
    request = scenario.build(CONTRACT, endpoint)
    assert request is not None
    exchange = exchange_for(app, wire_protocols(CONTRACT)[endpoint], request)
    assert exchange.error is None
    assert exchange == shape_snapshot
