"""Authentication and errors: the right status in the protocol's shape, never a 5xx for bad input."""
from __future__ import annotations

from dataclasses import dataclass

from conformance.checks.failures import CheckFailed, CheckSkipped, fail_if
from conformance.checks.probe import Probe, expect_success
from conformance.checks.registry import Case, check
from conformance.protocols.base import ChatRequest
from conformance.secrets import Secret
from conformance.transport.client import Exchange

UNKNOWN_MODEL = "conformance-no-such-model"
# An obviously fake key; registered so that even it never shows in a report.
WRONG_KEY = Secret("conformance-wrong-key-000000", "a deliberately wrong key")


@dataclass(frozen=True)
class BadInput:
    status_kind: str  # key into the protocol layer's `errors`
    why: str


CASES = {
    "missing-key": BadInput("unauthorized", "no key at all"),
    "wrong-key": BadInput("unauthorized", "a key the server never issued"),
    "unknown-model": BadInput("unknown_model", f"model {UNKNOWN_MODEL!r}"),
    "malformed-json": BadInput("invalid_parameter", "a body that is not JSON"),
    "no-messages": BadInput("invalid_parameter", "an empty conversation"),
}


def _cases(probe: Probe) -> list[Case]:
    return [Case(name, name) for name in CASES]


async def _send_bad(probe: Probe, name: str) -> Exchange:
    if name == "missing-key":
        return await probe.send(probe.request(), api_key=None)
    if name == "wrong-key":
        return await probe.send(probe.request(), api_key=WRONG_KEY)
    if name == "unknown-model":
        request = probe.request()
        request.model = UNKNOWN_MODEL
        return await probe.send(request)
    if name == "malformed-json":
        return await probe.send_raw(b'{"model": "x", "messages": [')
    request: ChatRequest = probe.request()
    request.turns = []
    return await probe.send(request)


# Billed: only the request after the bad one, which smoke shares with response_shape.
@check(category="errors", cases=_cases, requests=2, billed=1, shares=("plain",))
async def error_answers(probe: Probe, case: Case) -> None:
    """Bad requests get the protocol's status and error shape — 401 for a missing or wrong key, 404 for an unknown model, 400 for malformed input — never a 5xx, and the server still answers afterwards (assumption: protocol error codes)."""
    bad = CASES[case.data]
    status = probe.wire.protocol.error_status[bad.status_kind]
    if probe.client.api_key is None and bad.status_kind == "unauthorized":
        raise CheckSkipped("the target is used without a key, so key checks cannot apply")
    exchange = await _send_bad(probe, case.data)
    if exchange.error:
        raise CheckFailed(f"{bad.why}: request failed: {exchange.error}")
    if exchange.status is not None and exchange.status >= 500:
        raise CheckFailed(f"{bad.why}: server error {exchange.status} for bad input")
    problems = probe.wire.error_problems(exchange, status=status, param=None)
    after = await probe.send(probe.request())
    try:
        expect_success(after)
    except CheckFailed as exc:
        problems.append(f"after the bad request the server no longer answers: {exc}")
    fail_if([f"{bad.why}: {p}" for p in problems])
