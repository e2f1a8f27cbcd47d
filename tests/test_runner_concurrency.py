"""run_plan with a concurrency above one: plan order kept, bounds respected, the isolated phase
alone, a failure cancelling the rest with what was reached still delivered in order."""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from conformance.billing import BudgetExceeded
from conformance.checks.probe import Probe
from conformance.checks.registry import Case, CheckSpec
from conformance.generation.strategies import use_profile
from conformance.protocols import wire_protocols
from conformance.runner import Plan, RunPolicy, plan, run_plan
from conformance.secrets import Secret
from conformance.selection import compile_selection
from conformance.server.app import create_app
from conformance.suite.model import Contract
from conformance.transport.client import Client
from conformance.verdicts import Result, Status
from tests.conftest import TEST_KEY

ENDPOINTS = ("chat_completions", "responses", "messages")


@dataclass
class Trace:
    """What ran when: the cases in flight, per endpoint, and the order they started in."""

    in_flight: set[str] = field(default_factory=set)
    peak: int = 0
    peak_by_endpoint: dict[str, int] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    overlaps: list[tuple[str, frozenset[str]]] = field(default_factory=list)  # an isolated case and who else ran


def fake_spec(name: str, trace: Trace, delays: dict[str, float], *, isolated: bool = False,
              fail: dict[str, BaseException] | None = None) -> CheckSpec:
    async def func(probe: Probe, case: Case) -> None:
        key = f"{name}[{probe.endpoint}-{case.id}]"
        trace.started.append(key)
        trace.in_flight.add(key)
        if isolated and len(trace.in_flight) > 1:
            trace.overlaps.append((key, frozenset(trace.in_flight - {key})))
        trace.peak = max(trace.peak, len(trace.in_flight))
        here = sum(k.split("[")[1].startswith(probe.endpoint + "-") for k in trace.in_flight)
        trace.peak_by_endpoint[probe.endpoint] = max(trace.peak_by_endpoint.get(probe.endpoint, 0), here)
        try:
            await asyncio.sleep(delays.get(key, 0.0))
            if isolated and len(trace.in_flight) > 1:
                trace.overlaps.append((key, frozenset(trace.in_flight - {key})))
            if fail and key in fail:
                raise fail[key]
        except asyncio.CancelledError:
            trace.cancelled.append(key)
            raise
        finally:
            trace.in_flight.discard(key)

    func.__doc__ = f"{name}: a fake check that sleeps."
    return CheckSpec(name=name, category="fake", func=func, cases=lambda probe: [], doc=func.__doc__,
                     isolated=isolated)


def fake_plans(contract: Contract, specs: list[CheckSpec], cases: int) -> list[tuple[Plan, list]]:
    wires = wire_protocols(contract)
    client = Client("http://unused.invalid/v1", None)
    return [(Plan(spec, endpoint, Probe(contract, wires[endpoint], client)), [Case(str(i)) for i in range(cases)])
            for spec in specs for endpoint in ENDPOINTS]


def ids_in_plan_order(plans: list[tuple[Plan, list]]) -> list[str]:
    return [f"{p.spec.name}[{p.endpoint}-{c.id}]" for p, cases in plans for c in cases]


def random_delays(plans: list[tuple[Plan, list]], seed: int, most: float = 0.02) -> dict[str, float]:
    rng = random.Random(seed)
    return {key: rng.uniform(0, most) for key in ids_in_plan_order(plans)}


def run(plans: list[tuple[Plan, list]], policy: RunPolicy) -> list[Result]:
    results: list[Result] = []
    asyncio.run(run_plan(plans, results.append, policy))
    return results


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_results_come_in_plan_order_and_the_bound_holds(contract: Contract, seed: int) -> None:
    trace, delays = Trace(), {}
    plans = fake_plans(contract, [fake_spec(n, trace, delays) for n in ("alpha", "beta")], cases=8)
    delays.update(random_delays(plans, seed))
    results = run(plans, RunPolicy(concurrency=5))
    assert [r.id for r in results] == ids_in_plan_order(plans)
    assert all(r.status is Status.PASSED for r in results)
    assert trace.peak == 5  # the bound, and reached: cases did overlap
    assert trace.started == ids_in_plan_order(plans)  # one endpoint limit: started in plan order


def test_concurrency_one_runs_exactly_in_plan_order_isolated_checks_included(contract: Contract) -> None:
    trace = Trace()
    plans = fake_plans(contract, [fake_spec("alpha", trace, {}), fake_spec("quiet", trace, {}, isolated=True),
                                  fake_spec("omega", trace, {})], cases=2)
    results = run(plans, RunPolicy())
    assert trace.started == [r.id for r in results] == ids_in_plan_order(plans) and trace.peak == 1


def test_isolated_checks_run_alone_after_everything_else(contract: Contract) -> None:
    trace, delays = Trace(), {}
    specs = [fake_spec("alpha", trace, delays), fake_spec("quiet", trace, delays, isolated=True),
             fake_spec("omega", trace, delays)]
    plans = fake_plans(contract, specs, cases=4)
    delays.update(random_delays(plans, 7))
    results = run(plans, RunPolicy(concurrency=6))
    assert [r.id for r in results] == ids_in_plan_order(plans)  # reported where the plan has them
    assert not trace.overlaps
    quiet = [k for k in trace.started if k.startswith("quiet[")]
    assert trace.started[-len(quiet):] == quiet == [k for k in ids_in_plan_order(plans) if k.startswith("quiet[")]


def test_progress_sees_each_verdict_when_it_is_reached_not_when_it_is_delivered(contract: Contract) -> None:
    trace = Trace()
    specs = [fake_spec("alpha", trace, {}), fake_spec("quiet", trace, {}, isolated=True),
             fake_spec("omega", trace, {})]
    plans = fake_plans(contract, specs, cases=2)
    reached: list[str] = []
    delivered: list[str] = []

    def on_result(result: Result) -> None:
        delivered.append(result.id)

    asyncio.run(run_plan(plans, on_result, RunPolicy(concurrency=4), progress=lambda r: reached.append(r.id)))
    assert sorted(reached) == sorted(delivered) and delivered == ids_in_plan_order(plans)
    # omega finished before the isolated phase began: progress showed it then, the report holds it
    # back behind quiet.
    last_quiet = max(reached.index(k) for k in reached if k.startswith("quiet["))
    assert all(reached.index(k) < last_quiet for k in reached if k.startswith("omega["))


def test_per_endpoint_bound_interleaves_endpoints(contract: Contract) -> None:
    trace, delays = Trace(), {}
    plans = fake_plans(contract, [fake_spec("alpha", trace, delays)], cases=6)
    delays.update({key: 0.01 for key in ids_in_plan_order(plans)})
    results = run(plans, RunPolicy(concurrency=6, per_endpoint=2))
    assert [r.id for r in results] == ids_in_plan_order(plans)
    assert max(trace.peak_by_endpoint.values()) == 2
    assert trace.peak == 6  # the other endpoints' cases filled the slots one endpoint could not use
    assert {k.split("[")[1].split("-")[0] for k in trace.started[:6]} == set(ENDPOINTS)


@pytest.mark.parametrize("error", [BudgetExceeded("budget reached"), KeyboardInterrupt()])
def test_a_failure_cancels_the_rest_and_what_was_reached_is_delivered_in_order(contract: Contract,
                                                                               error: BaseException) -> None:
    trace, delays, fail = Trace(), {}, {}
    plans = fake_plans(contract, [fake_spec("alpha", trace, delays, fail=fail)], cases=4)
    order = ids_in_plan_order(plans)
    # In plan order: 0 slow (cut short), 1 and 4 fast (reached), 2 fails, the others slow.
    delays.update({key: 5.0 for key in order})
    delays.update({order[1]: 0.0, order[2]: 0.05, order[4]: 0.01})
    fail[order[2]] = error
    results: list[Result] = []
    with pytest.raises(type(error)):
        asyncio.run(asyncio.wait_for(run_plan(plans, results.append, RunPolicy(concurrency=6)), 3))
    assert [r.id for r in results] == [order[1], order[4]]  # every result reached, in plan order
    # Six started, and two more in the slots 1 and 4 left; nothing after the failure.
    assert trace.started == order[:8]
    assert sorted(trace.cancelled) == sorted(set(order[:8]) - {order[1], order[2], order[4]})
    assert not trace.in_flight


def test_cancelling_the_run_cancels_its_cases_and_delivers_what_was_reached(contract: Contract) -> None:
    trace, delays = Trace(), {}
    plans = fake_plans(contract, [fake_spec("alpha", trace, delays)], cases=2)
    order = ids_in_plan_order(plans)
    delays.update({key: 5.0 for key in order})
    delays[order[2]] = 0.0
    results: list[Result] = []

    async def go() -> None:
        task = asyncio.create_task(run_plan(plans, results.append, RunPolicy(concurrency=4)))
        await asyncio.sleep(0.1)
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert [r.id for r in results] == [order[2]]
    assert trace.started == order[:5]  # four, and one more in the slot case 2 left
    assert sorted(trace.cancelled) == sorted(set(order[:5]) - {order[2]}) and not trace.in_flight


def _reference_run(contract: Contract, select: str, concurrency: int) -> list[Result]:
    app = create_app(contract, api_key=TEST_KEY)
    results: list[Result] = []

    async def go() -> None:
        async with Client("http://reference/v1", Secret(TEST_KEY, "test"),
                          transport=httpx.ASGITransport(app=app)) as client:
            await run_plan(plan(contract, client, compile_selection(select)), results.append,
                           RunPolicy(concurrency=concurrency))

    with use_profile("ci"):
        asyncio.run(go())
    return results


def test_concurrent_results_equal_sequential_ones_on_the_reference_server(contract: Contract) -> None:
    select = ("response_shape or stream_framing or parameter_ranges or seed_reproducible or tool_choice_honoured "
              "or random_invalid_requests_rejected or latency_slo or error_answers")
    sequential = _reference_run(contract, select, 1)
    concurrent = _reference_run(contract, select, 8)

    def verdicts(results: list[Result]) -> list[tuple[Any, ...]]:  # a latency message holds timings
        return [(r.id, r.status, "" if r.category == "latency" else r.message) for r in results]

    assert len(sequential) > 50
    assert verdicts(concurrent) == verdicts(sequential)
