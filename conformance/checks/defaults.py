"""Documented defaults: omitting a parameter is the same as sending its default."""
from __future__ import annotations

from conformance.checks.equivalence import differences
from conformance.checks.failures import CheckFailed, CheckSkipped, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check
from conformance.protocols.base import FINISH_LENGTH, Reply


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
    a = await probe.answer(omitted)
    if name == "max_tokens":
        _cut_below(probe, a, default)
    b = await probe.answer(probe.request(seed=SEED, **{name: default}))
    fail_if(differences(a, b, probe, "omitted", f"{name}={default!r}"))


def _cut_below(probe: Probe, reply: Reply, default: int) -> None:
    """An answer cut for length before the documented default shows a smaller default cap at once
    (and the explicit request, thousands of tokens long, need not be sent to prove it)."""
    produced = reply.usage.output_tokens if reply.usage else None
    if probe.wire.finish_kind(reply) == FINISH_LENGTH and produced is not None and produced < default:
        raise CheckFailed(f"without max_tokens the answer was cut for length after {produced} tokens: the default "
                          f"cap is not the documented {default}")
