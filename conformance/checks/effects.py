"""Accepted but ignored? Each parameter must change what it claims to change."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.checks.failures import CheckFailed, CheckSkipped
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check

# Longer answers give the penalties something to work on.
EFFECT_MAX_TOKENS = 48


@dataclass(frozen=True)
class Effect:
    parameter: str
    control: dict[str, Any]
    probe: dict[str, Any]
    why: str


# Pairs chosen so that any real sampler answers differently: far apart on the parameter,
# everything else equal and seeded.
EFFECTS = [
    Effect("temperature", {"temperature": 0}, {"temperature": 2}, "greedy against the hottest sampling"),
    Effect("top_p", {"temperature": 1.5, "top_p": 1}, {"temperature": 1.5, "top_p": 0.05},
           "the whole distribution against its head"),
    Effect("min_p", {"temperature": 2, "min_p": 0}, {"temperature": 2, "min_p": 0.9},
           "no filter against only near-top tokens"),
    Effect("presence_penalty", {"presence_penalty": -2}, {"presence_penalty": 2}, "rewarded against penalised repeats"),
    Effect("frequency_penalty", {"frequency_penalty": -2}, {"frequency_penalty": 2},
           "rewarded against penalised repeats"),
    Effect("repetition_penalty", {"repetition_penalty": 1}, {"repetition_penalty": 2}, "no penalty against the strongest"),
    Effect("seed", {"temperature": 1, "seed": 1}, {"temperature": 1, "seed": 2}, "two seeds"),
]


def _effect_cases(probe: Probe) -> list[Case]:
    return [Case(e.parameter, e) for e in EFFECTS if probe.supports(e.parameter)]


@check(category="effects", cases=_effect_cases, requests=3)
async def parameter_changes_output(probe: Probe, case: Case) -> None:
    """A sampling parameter is honoured, not just accepted: far-apart values under one seed give different answers (seed table).

    A server that validates a parameter and then drops it passes every range check; only
    comparing answers shows it. The control request is sent twice first: a difference means
    something only when the same request under the same seed gives the same answer.
    """
    effect: Effect = case.data
    probe.require(effect.parameter, "seed")
    base = {"seed": SEED, "max_tokens": EFFECT_MAX_TOKENS}
    control = probe.request(**{**base, **effect.control})
    a = await probe.answer(control)
    again = await probe.answer(control)
    if (a.text, a.reasoning) != (again.text, again.reasoning):
        if effect.parameter == "seed":
            raise CheckFailed(f"seed: {effect.control} sent twice gave two answers ({a.text[:60]!r}, then "
                              f"{again.text[:60]!r}): the seed does not fix the answer")
        raise CheckSkipped(f"{effect.parameter}: {effect.control} sent twice under seed {SEED} gave two answers, so "
                           "a difference would prove nothing (seed_reproducible reports the cause)")
    b = await probe.answer(probe.request(**{**base, **effect.probe}))
    if a.text == b.text and a.reasoning == b.reasoning:
        raise CheckFailed(f"{effect.parameter}: {effect.control} and {effect.probe} ({effect.why}) gave the "
                          f"same answer {a.text[:80]!r}: the parameter looks ignored")
