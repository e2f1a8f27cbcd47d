"""One verdict shared by every check that sends a request which must be accepted, or refused."""
from __future__ import annotations

from conformance.checks.failures import CheckFailed, fail_if
from conformance.checks.probe import Probe
from conformance.transport.client import Exchange


def expect_outcome(probe: Probe, exchange: Exchange, *, accept: bool, what: str, param: str | None) -> None:
    """Accepted means 200. Refused means the protocol's invalid-request status in its error
    shape, naming `param` when given, and never a 5xx: bad input is the client's fault."""
    if exchange.error:
        raise CheckFailed(f"request failed: {exchange.error}")
    status = probe.wire.protocol.error_status["invalid_parameter"]
    if accept:
        if exchange.status != 200:
            raise CheckFailed(f"{what} must be accepted, found status {exchange.status}: {exchange.body[:200]!r}")
        return
    if exchange.status == 200:
        raise CheckFailed(f"{what} must be rejected with {status}, but was accepted")
    if exchange.status is not None and exchange.status >= 500:
        raise CheckFailed(f"{what} got a server error {exchange.status} instead of a 4xx")
    fail_if(probe.wire.error_problems(exchange, status=status, param=param))
