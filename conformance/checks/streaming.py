"""Stream framing and event grammar."""
from __future__ import annotations

from conformance.checks.probe import Probe
from conformance.checks.registry import Case, check, fail_if
from conformance.checks.probe import expect_success


def _usage_cases(probe: Probe) -> list[Case]:
    return [Case("usage", True), Case("no-usage", False)]


@check(category="streaming", cases=_usage_cases, smoke=("no-usage",), shares=("stream",))
async def stream_framing(probe: Probe, case: Case) -> None:
    """A stream follows the protocol's SSE framing and event grammar (WIRE.md A.9, D; F.1).

    Chat: text/event-stream, data-only frames of valid JSON, stable id/created, role on the
    first delta only, exactly one finish_reason on the last choice chunk, the usage-only chunk
    (`choices: []`) exactly when `stream_options.include_usage`, `data: [DONE]` last.
    """
    request = probe.request(stream=True, include_usage=case.data)
    exchange = await probe.send(request)
    expect_success(exchange)
    fail_if(probe.wire.stream_problems(exchange, request))
