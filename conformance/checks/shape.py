"""Shape of non-stream responses."""
from __future__ import annotations

from conformance.checks.probe import Probe
from conformance.checks.probe import expect_success
from conformance.checks.registry import CheckFailed, check, fail_if


@check(category="shape", shares=("plain",))
async def response_shape(probe: Probe) -> None:
    """A non-stream answer is a well-formed object of the protocol (WIRE.md A.6/B/C; F.1 checklist).

    Validated against the protocol's JSON Schema, then its cross-field rules: choice indexes,
    usage totals that add up, the id prefix; then parsed by the official SDK's model
    (openai / anthropic) when that SDK is installed.
    """
    exchange = await probe.send(probe.request())
    expect_success(exchange)
    try:
        body = exchange.json()
    except ValueError as exc:
        raise CheckFailed(f"body is not JSON: {exc}") from None
    problems = probe.wire.shape_problems(body)
    # The SDK judges only what the schema let through: one broken rule, one report.
    fail_if(problems or probe.wire.sdk_problems(body) or [])
