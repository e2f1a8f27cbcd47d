"""The run's adaptive concurrency: a 429 halves the limit and pauses for Retry-After, successes
win it back one at a time, each event recorded; against the chaos server, a throttled run
still passes and says what it did."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conformance.chaos import ChaosServer, Fault
from conformance.cli import main
from conformance.generation.strategies import use_profile
from conformance.runner import RunPolicy, plan, run_plan
from conformance.secrets import Secret
from conformance.selection import compile_selection
from conformance.suite.model import Contract
from conformance.transport.client import Client
from conformance.transport.limiter import Limiter
from conformance.verdicts import Result, Status

SELECTION = "chat_completions and (response_shape or stream_framing or parameter_ranges)"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_429_halves_the_limit_once_per_round_and_successes_win_it_back() -> None:
    clock = Clock()
    events: list[dict] = []
    limiter = Limiter(8, on_event=events.append, clock=clock)
    # Three requests sent before the cut all come back 429: one cut, not three.
    for _ in range(3):
        assert limiter.throttled(0, "messages", "check[messages]", "2", 2.0, 0) == 2.0
    assert limiter.limit == 4 and [e["limit_after"] for e in events] == [4, 4, 4]
    # One sent after the cut is throttled too: that is a second round.
    assert limiter.throttled(1, "messages", "check[messages]", None, 0.5, 1) == 0.5
    assert limiter.limit == 2 and limiter.lowest == 2
    assert events[0] == {"at_s": 0.0, "action": "waited", "endpoint": "messages", "for": "check[messages]",
                         "status": 429, "retry_after": "2", "wait_s": 2.0, "limit_before": 8, "limit_after": 4}
    # Additive increase: `limit` successes in a row win one slot back.
    for limit in range(2, 8):
        for _ in range(limit - 1):
            limiter.succeeded()
        assert limiter.limit == limit
        limiter.succeeded()
        assert limiter.limit == limit + 1
    limiter.succeeded()
    assert limiter.limit == 8 and events[-1]["action"] == "recovered" and events[-1]["limit_after"] == 8
    assert sum(e["action"] == "recovered" for e in events) == 1


def test_the_limit_never_goes_below_one_and_a_request_gives_up_after_its_waits() -> None:
    events: list[dict] = []
    limiter = Limiter(2, on_event=events.append, max_waits=2, clock=Clock())
    for epoch in range(4):
        limiter.throttled(epoch, "responses", "", "0", 0.0, 0)
    assert limiter.limit == 1
    assert limiter.throttled(4, "responses", "", "0", 0.0, 2) is None
    assert events[-1]["action"] == "gave-up" and limiter.limit == 1


def test_the_gate_admits_at_most_the_limit_and_pauses_for_retry_after() -> None:
    async def go() -> tuple[int, float]:
        limiter = Limiter(3)
        running, peak = 0, 0

        async def request() -> None:
            nonlocal running, peak
            await limiter.acquire()
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            limiter.release()

        await asyncio.gather(*(request() for _ in range(12)))
        loop = asyncio.get_running_loop()
        limiter.throttled(limiter._cuts, "chat_completions", "", "0.2", 0.2, 0)
        started = loop.time()
        await limiter.acquire()  # held until Retry-After has passed
        limiter.release()
        return peak, loop.time() - started

    peak, paused = asyncio.run(go())
    assert peak == 3 and paused >= 0.19


def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    async def go() -> int:
        limiter = Limiter(1)
        await limiter.acquire()
        first = asyncio.create_task(limiter.acquire())
        second = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        limiter.release()  # wakes `first` ...
        first.cancel()  # ... which goes away before it runs: `second` must get the slot
        await asyncio.wait_for(second, 1)
        return limiter.in_flight

    assert asyncio.run(go()) == 1


def _chaos_run(contract: Contract, base_url: str, concurrency: int) -> tuple[list[Result], list[dict], Client]:
    results: list[Result] = []
    events: list[dict] = []
    clients: list[Client] = []

    async def go() -> None:
        async with Client(base_url, Secret("key-for-chaos", "test")) as client:
            clients.append(client)
            await run_plan(plan(contract, client, compile_selection(SELECTION)), results.append,
                           RunPolicy(concurrency=concurrency), throttled=events.append)

    with use_profile("ci"):
        asyncio.run(go())
    return results, events, clients[0]


def test_a_throttled_concurrent_run_waits_cuts_recovers_and_passes(contract: Contract) -> None:
    with ChaosServer(Fault("http_429", skip=2, times=4, retry_after="0.05")) as chaos:
        results, events, client = _chaos_run(contract, chaos.base_url, 4)
    assert results and all(r.status in (Status.PASSED, Status.SKIPPED) for r in results), \
        [(r.id, r.message) for r in results if r.status not in (Status.PASSED, Status.SKIPPED)]
    waited = [e for e in events if e["action"] == "waited"]
    assert len(waited) == 4 and all(e["status"] == 429 and e["retry_after"] == "0.05" for e in waited)
    assert waited[0]["limit_before"] == 4 and min(e["limit_after"] for e in waited) < 4
    assert events[-1]["action"] == "recovered" and events[-1]["limit_after"] == 4
    # Each throttled attempt is kept in the request log as a retry, and nothing failed for good.
    retried = [r for s in client.samples for r in s.retries]
    assert len(retried) == 4 and all(r.status == 429 and r.wait_s == 0.05 for r in retried)
    assert not any(s.failed or s.status == 429 for s in client.samples)
    assert client.limiter is None  # the run's limiter goes with the run


def test_a_sequential_run_leaves_a_429_to_retries(contract: Contract) -> None:
    with ChaosServer(Fault("http_429", skip=2, times=1, retry_after="0")) as chaos:
        results, events, client = _chaos_run(contract, chaos.base_url, 1)
    assert not events and sum(s.status == 429 for s in client.samples) == 1
    assert sum(r.status is Status.FAILED for r in results) == 1


def test_the_report_records_the_throttling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChaosServer(Fault("http_429", skip=1, times=3, retry_after="0.05")) as chaos:
        code = main(["run", "--base-url", chaos.base_url, "--report-dir", str(tmp_path), "--no-color",
                     "-k", SELECTION, "--concurrency", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    run = json.loads((tmp_path / "report.json").read_text())["run"]
    assert [e["action"] for e in run["throttling"]][:3] == ["waited"] * 3
    assert run["throttling"][-1]["action"] == "recovered"
