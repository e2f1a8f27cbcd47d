"""Property checks: requests drawn at random from the contract, valid ones and invalid ones.

The boundary checks (`conformance.checks.ranges`) vary one parameter at a time at its edges;
these draw whole requests with hypothesis (`conformance.generation.strategies`), under the
active profile (`--hypothesis-profile`), so combinations and interior values are tried too.
How a search runs inside a check, and how its failures are saved for `conformance replay`:
`conformance.checks.search`.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from conformance.checks.probe import PROMPT, Probe
from conformance.checks.ranges import long_answer
from conformance.checks.registry import Case, check
from conformance.checks.search import explore, report_found
from conformance.generation import strategies
from conformance.protocols.base import ChatRequest
from conformance.replay import Expectation
from conformance.suite.model import Contract


def _budget(contract: Contract) -> int:
    return strategies.request_budget()


def _examples(contract: Contract, case: Case) -> int:
    """Expected billed messages of one search: its examples, accepted; no shrinking."""
    return strategies.active_settings().max_examples


@check(category="properties", requests=_budget, billed=_examples, smoke=0)
async def random_valid_requests_accepted(probe: Probe) -> None:
    """Every request drawn at random inside the contract — any combination of parameters, each within its range, enum and type, streamed or not — is answered with 200 (seed table; hypothesis, active profile)."""
    contract, endpoint = probe.contract, probe.endpoint
    examples = st.tuples(strategies.chat_prompts(), strategies.valid_params(contract, endpoint), st.booleans(),
                         st.booleans())

    def make(example: tuple[str, dict[str, Any], bool, bool]) -> tuple[ChatRequest, Expectation]:
        prompt, params, stream, include_usage = example
        request = probe.request(prompt=prompt, stream=stream, include_usage=stream and include_usage, **params)
        return request, Expectation.accepted()

    found, search = await explore(probe, f"valid/{contract.name}/{endpoint}", examples, make)
    if found is not None:
        raise report_found(probe, "random_valid_requests_accepted", "", found, search, "a valid request was refused")


def _parameter_cases(probe: Probe) -> list[Case]:
    return [Case(p.name, p.name) for p in probe.contract.supported_parameters(probe.endpoint)]


@check(category="properties", cases=_parameter_cases, requests=_budget, billed=0)  # all rejected
async def random_invalid_requests_rejected(probe: Probe, case: Case) -> None:
    """Every value drawn at random outside a parameter's contract — out of range on either side, the wrong JSON type, outside the enum, a list too long — is rejected with the protocol's invalid-parameter status and an error naming the parameter, never a 5xx (seed table; hypothesis, active profile)."""
    contract, endpoint = probe.contract, probe.endpoint
    param = contract.parameters[case.data]
    wire_name = param.binding(endpoint).wire_name
    assert wire_name is not None  # the cases are the supported parameters
    expect = Expectation.rejected(probe.wire.protocol.error_status["invalid_parameter"], wire_name)
    # Only what the bad value needs besides it, so the error can be about nothing else.
    needed = {k: v for k, v in param.requires.items() if probe.supports(k)}

    def make(value: Any) -> tuple[ChatRequest, Expectation]:
        # A wrongly accepted huge max_tokens would answer for minutes: streamed, it shows at once.
        stream = long_answer(param.name, value)
        return probe.request(prompt=PROMPT, stream=stream, **{**needed, param.name: value}), expect

    found, search = await explore(probe, f"invalid/{contract.name}/{endpoint}/{param.name}",
                                  strategies.invalid_value(param), make,
                                  lambda request: {"events_wanted": 1} if request.stream else {})
    if found is not None:
        value = found.request.params.get(param.name)
        raise report_found(probe, "random_invalid_requests_rejected", case.id, found, search,
                      f"{wire_name}={json.dumps(value, default=repr)[:80]} must be rejected")
