"""Tiers: the smoke selection covers every category on every endpoint within its budget, and each
tier's expected-cost preview is close to what the reference server bills."""
from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import pytest

from conformance.billing import Meter, preview
from conformance.checks import REGISTRY, Case
from conformance.checks.probe import Probe
from conformance.checks.registry import CheckSpec
from conformance.generation.strategies import use_profile
from conformance.protocols import wire_protocols
from conformance.runner import (RunPolicy, SharedAnswers, expected_estimate, plan, preflight, request_estimate,
                                run_plan)
from conformance.secrets import Secret
from conformance.selection import compile_selection
from conformance.server.app import create_app
from conformance.suite.model import Contract
from conformance.tiers import TIERS, get_tier
from conformance.transport.client import Client, request_label
from conformance.verdicts import Result, Status

KEY = "tiers-test-key-0123456789"
SMOKE_BUDGET = 45
# Categories a contract leaves out on an endpoint: every check of theirs is skipped there, so
# the skip is the coverage (Responses and Messages have no logprobs switch).
INHERENTLY_SKIPPED = {("logprobs", "responses"), ("logprobs", "messages")}


def _cases(n: int) -> list[Case]:
    return [Case(f"c{i}", i) for i in range(n)]


def _spec(**kw: object) -> CheckSpec:
    return CheckSpec("x", "shape", lambda probe: None, None, "doc", **kw)  # type: ignore[arg-type, return-value]


def test_smoke_picks_the_first_case_unless_told() -> None:
    assert [c.id for c in _spec().smoke_cases(_cases(3))] == ["c0"]
    assert _spec(smoke=0).smoke_cases(_cases(3)) == []
    assert [c.id for c in _spec(smoke=2).smoke_cases(_cases(3))] == ["c0", "c1"]
    assert [c.id for c in _spec(smoke=("c2",)).smoke_cases(_cases(3))] == ["c2"]
    assert [c.id for c in _spec(smoke=lambda c: c.data > 0).smoke_cases(_cases(3))] == ["c1"]


def test_billed_is_never_more_than_the_requests(contract: Contract) -> None:
    assert _spec(requests=2, billed=5).billed_per_case(contract, None) == 2
    assert _spec(requests=2).billed_per_case(contract, None) == 2
    assert _spec(requests=3, billed=lambda c, case: case.data).billed_per_case(contract, Case("a", 1)) == 1


def test_every_smoke_check_says_what_it_shares_only_with_another_smoke_check() -> None:
    names: dict[str, int] = defaultdict(int)
    for spec in REGISTRY.values():
        if spec.smoke != 0:
            for name in spec.shares:
                names[name] += 1
    assert names and all(n > 1 for n in names.values()), dict(names)


def _plans(contract: Contract, client: Client, tier: str | None, select: str | None = None):
    return plan(contract, client, compile_selection(select), tier=None if tier is None else get_tier(tier))


def test_the_smoke_plan_runs_at_most_the_smoke_cases(contract: Contract) -> None:
    async def go() -> None:
        async with Client("http://ref/v1", Secret(KEY, "t")) as client:
            every = _plans(contract, client, None)
            smoke = _plans(contract, client, "smoke")
            assert len(smoke) < len(every)
            assert all(len(cases) == 1 for _, cases in smoke)
            assert all(isinstance(p.probe.client, SharedAnswers) for p, _ in smoke if p.probe)
            assert not any(isinstance(p.probe.client, SharedAnswers) for p, _ in every if p.probe)
            # Selection first, then the smoke pick among what is selected.
            picked = _plans(contract, client, "smoke", "parameter_ranges and chat and max_tokens")
            assert [c.id for _, cases in picked for c in cases] == ["max_tokens=0-reject"]

    asyncio.run(go())


def test_shared_answers_bill_a_request_once_across_checks_but_not_a_checks_own_repeat(contract: Contract) -> None:
    app = create_app(contract, api_key=KEY)
    meter = Meter(contract.pricing)

    async def go() -> None:
        async with Client("http://ref/v1", Secret(KEY, "t"), transport=httpx.ASGITransport(app=app),
                          meter=meter) as client:
            shared = SharedAnswers(client)
            probe = Probe(contract, wire_protocols(contract)["chat_completions"], shared)  # type: ignore[arg-type]
            for label in ("a", "b", "b"):
                token = request_label.set(label)
                try:
                    assert (await probe.send(probe.request(seed=1))).status == 200
                finally:
                    request_label.reset(token)
            # Another key, or an early hang-up: sent as asked.
            await probe.send(probe.request(seed=1), api_key=None)
            assert shared.samples is client.samples

    asyncio.run(go())
    assert meter.messages == 2  # "a", then "b"'s own repeat; the 401 is not billed


def _run_tier(contract: Contract, name: str) -> tuple[int, int, int, list[Result]]:
    tier = TIERS[name]
    app = create_app(contract, api_key=KEY)
    meter = Meter(contract.pricing)
    policy = RunPolicy(sample_cap=tier.sample_cap)
    results: list[Result] = []
    figures: list[int] = []

    async def go() -> None:
        async with Client("http://ref/v1", Secret(KEY, "t"), transport=httpx.ASGITransport(app=app),
                          meter=meter) as client:
            plans = plan(contract, client, compile_selection(None), tier=tier)
            # The preflight is one more billed message, as the CLI counts it.
            cost = preview(request_estimate(plans, contract, policy) + 1,
                           expected_estimate(plans, contract, policy) + 1, contract.pricing)
            figures.extend((cost.expected_messages, cost.max_messages))
            await preflight(contract, client)
            await run_plan(plans, results.append, policy)

    with use_profile(tier.hypothesis_profile):
        asyncio.run(go())
    assert meter.messages == len(app.state.server.ledger.charges)
    return figures[0], figures[1], meter.messages, results


@pytest.mark.parametrize("name", list(TIERS))
def test_the_expected_cost_is_within_a_third_of_the_billed_messages(contract: Contract, name: str) -> None:
    expected, worst, billed, results = _run_tier(contract, name)
    assert not [r.id for r in results if r.status.is_bad]
    assert billed <= worst
    assert billed / 1.3 <= expected <= billed * 1.3, (expected, worst, billed)


def test_smoke_covers_every_category_on_every_endpoint_within_its_budget(contract: Contract) -> None:
    expected, worst, billed, results = _run_tier(contract, "smoke")
    assert billed <= SMOKE_BUDGET, billed
    by_place: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        by_place[(r.category, r.endpoint)].append(r)
    categories = {spec.category for spec in REGISTRY.values()}
    for category in categories:
        for endpoint in contract.endpoints:
            here = by_place[(category, endpoint)]
            assert here, f"{category} not run on {endpoint}"
            if (category, endpoint) in INHERENTLY_SKIPPED:
                assert all(r.status is Status.SKIPPED and "not offered" in r.message for r in here)
            else:
                assert any(r.status is not Status.SKIPPED for r in here), f"{category} only skipped on {endpoint}"
