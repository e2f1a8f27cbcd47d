"""Shared fixtures: the contract, and the reference server in-process behind httpx's ASGI transport."""
from __future__ import annotations

import asyncio
import sys
from typing import Iterable

import httpx
import pytest

from conformance.generation.strategies import use_profile
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


@pytest.fixture(autouse=True)
def _failures_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Property checks save every failing case; tests must not litter the checkout's reports/.
    monkeypatch.setenv("CONFORMANCE_FAILURES_DIR", str(tmp_path_factory.mktemp("failures")))


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract(DEFAULT_CONTRACT)


def run_checks(contract: Contract, select: str | None = None, faults: Iterable[str] = (),
               profile: str = "ci") -> list[Result]:
    """Run the catalogue in-process against a reference server with `faults` switched on.

    `profile` is the hypothesis profile of the property checks (`live` draws fewer requests).
    """
    app = create_app(contract, api_key=TEST_KEY, faults=Faults.parse(list(faults)))
    results: list[Result] = []

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with Client("http://reference/v1", Secret(TEST_KEY, "test"), transport=transport) as client:
            await run_plan(plan(contract, client, compile_selection(select)), results.append)

    with use_profile(profile):
        asyncio.run(go())
    return results



# `python -m conformance`, for a child a test interrupts with SIGINT. A shell without job
# control starts background commands with SIGINT ignored and children inherit that (Python
# then installs no KeyboardInterrupt handler): CI launched in the background would fail a
# Ctrl-C test for a reason that is not the harness's. The child restores the handler itself
# (a preexec_fn would not be safe beside the test's server threads).
INTERRUPTIBLE_CONFORMANCE = [
    sys.executable, "-c",
    ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
     "from conformance.cli import main; sys.exit(main(sys.argv[1:]))"),
]
