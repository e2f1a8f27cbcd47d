"""Parameter ranges and types, from the contract's parameter table."""
from __future__ import annotations

from conformance.checks.acceptance import expect_outcome
from conformance.checks.probe import Probe
from conformance.checks.registry import Case, check
from conformance.generation.ranges import BoundaryValue, boundary_values


def _boundary_cases(probe: Probe) -> list[Case]:
    return [Case(b.id, b) for p in probe.contract.supported_parameters(probe.endpoint) for b in boundary_values(p)]


# Above this many answer tokens a boundary request is streamed and cut after its first event.
LONG_ANSWER_TOKENS = 256


def long_answer(parameter: str, value: object) -> bool:
    """Would a request with this value ask for a long answer (so: stream it, hang up early)?"""
    return (parameter == "max_tokens" and isinstance(value, (int, float)) and not isinstance(value, bool)
            and value > LONG_ANSWER_TOKENS)


# Rejected values are not billed; the smoke tier tries the first one.
@check(category="ranges", cases=_boundary_cases, billed=lambda contract, case: int(case.data.accept),
       smoke=lambda case: not case.data.accept)
async def parameter_ranges(probe: Probe, case: Case) -> None:
    """Each documented parameter accepts its boundary values and rejects values outside its
    range or of the wrong type with the protocol's invalid-parameter error naming it (seed table).
    """
    value: BoundaryValue = case.data
    param = probe.contract.parameters[value.parameter]
    wire_name = param.binding(probe.endpoint).wire_name
    # A precondition the endpoint spells some other way (or not at all) is left out.
    params = {k: v for k, v in param.requires.items() if probe.supports(k)}
    params[value.parameter] = value.value
    if long_answer(value.parameter, value.value):
        # Acceptance shows in the status and the first event; the thousands of tokens after it
        # would only cost time (minutes on a CPU-bound server) and, on a billed target, money.
        exchange = await probe.send(probe.request(stream=True, **params), events_wanted=1)
    else:
        exchange = await probe.send(probe.request(**params))
    expect_outcome(probe, exchange, accept=value.accept, what=f"{wire_name}={value.value!r} ({value.why})",
                   param=wire_name)
