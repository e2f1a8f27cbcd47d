"""Runner-level sampling: a case runs once per sample and concludes from the pass rate's interval."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

from conformance.checks import CheckFailed, CheckSkipped, CheckSpec
from conformance.checks.probe import SEED, Probe
from conformance.errors import TransportError
from conformance.protocols import wire_protocols
from conformance.runner import Plan, RunPolicy, _run_one, case_rule
from conformance.stats import Outcome
from conformance.suite.model import Contract, RateOverride
from conformance.verdicts import Status


def _spec(func, *, sampled: bool = True, category: str = "tools") -> CheckSpec:
    return CheckSpec("tool_choice_honoured", category, func, None, "A rule.", sampled=sampled)


def _run(contract: Contract, spec: CheckSpec, policy: RunPolicy = RunPolicy(), rule=None):
    if rule is not None:
        contract = dataclasses.replace(contract, expectations={
            **contract.expectations, "sampling": {"confidence": 0.95, spec.name: rule}})
    probe = Probe(contract, wire_protocols(contract)["chat_completions"], None)  # type: ignore[arg-type]
    return asyncio.run(_run_one(Plan(spec, "chat_completions", probe), None, policy))


def _failing_on(*samples: int, seen: list[int] | None = None):
    async def func(probe: Probe) -> None:
        if seen is not None:
            seen.append(probe.seed)
        if probe.sample in samples:
            raise CheckFailed(f"boom {probe.sample}")
    return func


def test_every_sample_passes(contract: Contract) -> None:
    seeds: list[int] = []
    r = _run(contract, _spec(_failing_on(seen=seeds)), rule={"samples": 3, "rate": 1.0})
    assert r.status is Status.PASSED and seeds == [SEED, SEED + 1, SEED + 2]
    assert (r.samples, r.rate, r.ci_high) == (3, 1.0, 1.0) and r.ci_low == pytest.approx(0.025 ** (1 / 3), abs=1e-6)
    assert r.message.startswith("3/3 passed (rate 1.00, 95 % CI 0.29–1.00; required ≥ 1.00)")


def test_rate_one_fails_at_the_first_failing_sample(contract: Contract) -> None:
    seeds: list[int] = []
    r = _run(contract, _spec(_failing_on(1, seen=seeds)), rule={"samples": 3, "rate": 1.0})
    assert r.status is Status.FAILED and len(seeds) == 2  # the third cannot change the verdict
    assert r.samples == 2 and r.message.endswith("required ≥ 1.00): boom 1")


def test_a_target_rate_samples_any_check_and_passes_once_met(contract: Contract) -> None:
    seeds: list[int] = []
    policy = RunPolicy(rates=(RateOverride("tool_choice_honoured", "*", None, "small model", 0.3, 3),))
    r = _run(contract, _spec(_failing_on(0, seen=seeds), sampled=False), policy)
    assert r.status is Status.PASSED and r.samples == 2 and len(seeds) == 2  # 1 of 3 already meets 0.3
    assert "1/2 passed" in r.message and "boom 0" in r.message


def test_below_the_rate_but_not_significantly_is_inconclusive(contract: Contract) -> None:
    policy = RunPolicy(rates=(RateOverride("tool_choice_honoured", "chat_completions", None, "small", 0.3, 3),))
    r = _run(contract, _spec(_failing_on(0, 1, 2)), policy)
    assert r.status is Status.INCONCLUSIVE and r.samples == 3 and r.rate == 0
    assert r.ci_high == pytest.approx(1 - 0.025 ** (1 / 3), abs=1e-6) and "0/3 passed" in r.message


def test_the_tier_caps_samples(contract: Contract) -> None:
    seeds: list[int] = []
    r = _run(contract, _spec(_failing_on(seen=seeds)), RunPolicy(sample_cap=1), rule={"samples": 5, "rate": 1.0})
    assert r.status is Status.PASSED and seeds == [SEED] and r.samples == 1


def test_no_rule_runs_once_as_before(contract: Contract) -> None:
    seeds: list[int] = []
    unsampled = dataclasses.replace(contract, expectations={
        k: v for k, v in contract.expectations.items() if k != "sampling"})
    r = _run(unsampled, _spec(_failing_on(seen=seeds)))
    assert r.status is Status.PASSED and seeds == [SEED] and r.samples is None and r.message == ""
    # a contract rule names a sampled check only: an unsampled one without an override runs once
    assert case_rule(_spec(_failing_on(), sampled=False), "chat_completions", "", dataclasses.replace(
        contract, expectations={"sampling": {"tool_choice_honoured": {"samples": 3, "rate": 1}}})) is None


def test_a_skip_or_an_error_decides_the_whole_result(contract: Contract) -> None:
    async def skips(probe: Probe) -> None:
        raise CheckSkipped("not here")

    async def errs(probe: Probe) -> None:
        if probe.sample == 1:
            raise TransportError("read-timeout", "slow")

    assert _run(contract, _spec(skips), rule={"samples": 3, "rate": 1.0}).status is Status.SKIPPED
    r = _run(contract, _spec(errs), rule={"samples": 3, "rate": 1.0})
    assert r.status is Status.ERROR and r.message.startswith("sample 2 of 3: ")


def test_override_takes_the_contracts_samples_when_it_names_only_a_rate(contract: Contract) -> None:
    c = dataclasses.replace(contract, expectations={
        **contract.expectations, "sampling": {"confidence": 0.9, "tool_choice_honoured": {"samples": 4, "rate": 1.0}}})
    policy = RunPolicy(rates=(RateOverride("tool_choice_honoured", "*", "auto-", "r", rate=0.5),))
    rule = case_rule(_spec(_failing_on()), "messages", "auto-stream", c, policy)
    assert (rule.samples, rule.rate, rule.confidence) == (4, 0.5, 0.9)
    assert case_rule(_spec(_failing_on()), "messages", "none-stream", c, policy).rate == 1.0


def test_latency_that_does_not_gate_reports_its_figures_as_a_pass(contract: Contract) -> None:
    async def slow(probe: Probe) -> Outcome:
        return Outcome(Status.FAILED, "ttft_ms p50 = 900 ms", samples=6, rate=900.0, ci_low=850.0, ci_high=990.0)

    spec = _spec(slow, sampled=False, category="latency")
    assert _run(contract, spec).status is Status.FAILED
    r = _run(contract, spec, RunPolicy(gate_latency=False))
    assert r.status is Status.PASSED and r.message.startswith("not gated: ")
    assert "would be failed" in r.message and "ttft_ms p50 = 900 ms" in r.message
    assert (r.samples, r.rate, r.ci_low, r.ci_high) == (6, 900.0, 850.0, 990.0)


def test_the_contract_samples_only_registered_sampled_checks(contract: Contract) -> None:
    from conformance.checks import REGISTRY

    rules = {k: v for k, v in contract.expectations["sampling"].items() if k not in ("assumption", "confidence")}
    assert set(rules) == {name for name, spec in REGISTRY.items() if spec.sampled}
    # Absolute rules, few samples: the live endpoint bills each one.
    assert all(rule["rate"] == 1.0 and 1 <= rule["samples"] <= 2 for rule in rules.values())
