"""Retry policy: only safe failures, bounded, waits honouring Retry-After (capped)."""
from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

from conformance import errors
from conformance.transport.retry import RetryPolicy, parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize("value,seconds", [
    ("3", 3.0), (" 0.5 ", 0.5), ("-4", 0.0),
    (format_datetime(datetime.fromtimestamp(NOW + 7, timezone.utc), usegmt=True), 7.0),
    (format_datetime(datetime.fromtimestamp(NOW - 60, timezone.utc), usegmt=True), 0.0),
    ("soon", None), ("", None), (None, None),
])
def test_retry_after_seconds_or_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == (pytest.approx(seconds) if seconds is not None else None)


def test_wait_honours_retry_after_up_to_the_cap_else_backs_off_exponentially() -> None:
    policy = RetryPolicy(retries=3, base_s=0.5, cap_s=30)
    assert policy.delay(0, "2", NOW) == 2
    assert policy.delay(0, "3600", NOW) == 30  # a server cannot park the run for an hour
    assert [policy.delay(n, None, NOW) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_only_safe_failures_are_retried_and_only_so_often() -> None:
    policy = RetryPolicy(retries=2)
    assert policy.should_retry(0, 429, None) and policy.should_retry(1, 503, None)
    assert not policy.should_retry(2, 429, None)  # bounded
    assert not policy.should_retry(0, 500, None)  # the server may have done (and billed) the work
    assert not policy.should_retry(0, 400, None) and not policy.should_retry(0, 200, None)
    assert policy.should_retry(0, None, errors.CONNECT_REFUSED)  # the request never left
    for kind in (errors.RESET, errors.FIRST_BYTE_TIMEOUT, errors.TLS, errors.TOO_LARGE):
        assert not policy.should_retry(0, None, kind), kind
    assert not RetryPolicy().should_retry(0, 429, None)  # off by default


def test_error_kinds_refine_their_family_without_confusing_each_other() -> None:
    assert errors.CONNECT_REFUSED == "connect-error" and errors.CONNECT_REFUSED == "connect-refused"
    assert errors.CONNECT_REFUSED != errors.DNS and str(errors.DNS) == "dns"
    assert errors.IDLE_TIMEOUT == "timeout" and {errors.IDLE_TIMEOUT: 1} == {"idle-timeout": 1}
