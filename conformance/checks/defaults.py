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


@check(category="defaults", cases=_default_cases, requests=2, shares=("seeded",))
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
    if name == "max_tokens":
        await _max_tokens_default(probe, default)
        return
    a = await probe.answer(probe.request(seed=SEED))
    b = await probe.answer(probe.request(seed=SEED, **{name: default}))
    fail_if(differences(a, b, probe, "omitted", f"{name}={default!r}"))


# Events the explicit-default stream may have beyond the omitted one's (a usage chunk, say)
# before it counts as running on.
EXTRA_EVENTS = 8


async def _max_tokens_default(probe: Probe, default: int) -> None:
    """max_tokens is compared streamed, so that the explicit default (thousands of tokens on a
    server that never stops by itself) is only read as far as the omitted answer went."""
    omitted = await probe.send(probe.request(seed=SEED, max_tokens=None, stream=True))
    a = probe.read(omitted)
    _cut_below(probe, a, default)
    explicit = await probe.send(probe.request(seed=SEED, max_tokens=default, stream=True),
                                events_wanted=len(omitted.events) + EXTRA_EVENTS)
    if explicit.cut_short:
        raise CheckFailed(f"with max_tokens={default} the answer runs on past where the one without max_tokens "
                          f"ended ({len(omitted.events)} events, {a.text[-40:]!r}): the default is not {default}")
    fail_if(differences(a, probe.read(explicit), probe, "omitted", f"max_tokens={default!r}"))


def _cut_below(probe: Probe, reply: Reply, default: int) -> None:
    """An answer cut for length before the documented default shows a smaller default cap at once
    (and the explicit request, thousands of tokens long, need not be sent to prove it)."""
    produced = reply.usage.output_tokens if reply.usage else None
    if probe.wire.finish_kind(reply) == FINISH_LENGTH and produced is not None and produced < default:
        raise CheckFailed(f"without max_tokens the answer was cut for length after {produced} tokens: the default "
                          f"cap is not the documented {default}")
