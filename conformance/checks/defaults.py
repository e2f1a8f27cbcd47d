"""Documented defaults: omitting a parameter is the same as sending its default."""
from __future__ import annotations

from conformance.checks.equivalence import differences
from conformance.checks.failures import CheckSkipped, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check


def _default_cases(probe: Probe) -> list[Case]:
    return [Case(p.name, p.name) for p in probe.contract.supported_parameters(probe.endpoint)
            if p.has_default and p.name != "seed"]


@check(category="defaults", cases=_default_cases, requests=2)
async def omitted_equals_default(probe: Probe, case: Case) -> None:
    """A parameter left out behaves exactly as its documented default (seed table: "Defaults apply when a field is omitted").

    Two requests under one seed, one without the parameter and one with its default, must
    give the same answer.
    """
    probe.require("seed")
    name = case.data
    if name in probe.wire.protocol.required_parameters:
        raise CheckSkipped(f"{probe.endpoint} requires {name} in every request: it cannot be omitted")
    default = probe.contract.parameters[name].default
    omitted = probe.request(seed=SEED, **({"max_tokens": None} if name == "max_tokens" else {}))
    explicit = probe.request(seed=SEED, **{name: default})
    a, b = await probe.answer(omitted), await probe.answer(explicit)
    fail_if(differences(a, b, probe, "omitted", f"{name}={default!r}"))
