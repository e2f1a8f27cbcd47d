"""Seed control: reproducible under one seed, varied across seeds."""
from __future__ import annotations

from conformance.checks.failures import CheckFailed
from conformance.checks.probe import Probe
from conformance.checks.registry import check


@check(category="seed", requests=lambda c: int(c.expectations.get("seed_reproducibility", {}).get("k", 3)),
       isolated=True, sampled=True)
async def seed_reproducible(probe: Probe) -> None:
    """k requests with one seed give one answer, pass^k (seed: "Optional deterministic sampling seed"; k from the suite).

    Sampled at temperature 1 so that determinism comes from the seed, not from greediness.
    """
    probe.require("seed")
    k = int(probe.contract.expectations.get("seed_reproducibility", {}).get("k", 3))
    request = probe.request(seed=probe.seed, temperature=1)
    first = await probe.answer(request)
    for run in range(2, k + 1):
        again = await probe.answer(request)
        if (again.text, again.reasoning) != (first.text, first.reasoning):
            raise CheckFailed(f"run {run} of {k} with seed {probe.seed} differs from run 1: "
                              f"{first.text[:60]!r} vs {again.text[:60]!r}")
