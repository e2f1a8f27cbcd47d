"""Shared fixtures: the contract, and the reference server in-process behind httpx's ASGI transport."""
from __future__ import annotations

import asyncio
from typing import Iterable

import httpx
import pytest

from conformance.runner import plan, run_plan
from conformance.selection import compile_selection
from conformance.secrets import Secret
from conformance.server.app import create_app
from conformance.server.faults import Faults
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.suite.model import Contract
from conformance.transport.client import Client
from conformance.verdicts import Result

TEST_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract(DEFAULT_CONTRACT)


def run_checks(contract: Contract, select: str | None = None, faults: Iterable[str] = ()) -> list[Result]:
    """Run the catalogue in-process against a reference server with `faults` switched on."""
    app = create_app(contract, api_key=TEST_KEY, faults=Faults.parse(list(faults)))
    results: list[Result] = []

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with Client("http://reference/v1", Secret(TEST_KEY, "test"), transport=transport) as client:
            await run_plan(plan(contract, client, compile_selection(select)), results.append)

    asyncio.run(go())
    return results
