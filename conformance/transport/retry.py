"""When a failed request may be sent again, and how long to wait first.

Only where it is safe: a 429 or a 502/503/504 (the server says it did not do the work) and a
connection that never carried the request. Never a 500 or a broken answer: the server may
have done the work, and a live provider bills it. Retries are off unless asked for, and each
one is recorded, so a report never shows a success without the failures that preceded it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime

from conformance.errors import BEFORE_SENDING

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """One failed attempt that was sent again after `wait_s`."""

    attempt: int  # 1: the first request failed, and this is its first retry
    status: int | None
    kind: str
    wait_s: float
    retry_after: str | None = None  # the server's header, as sent

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 0  # extra attempts after the first; 0: never retry
    base_s: float = 0.5  # the first backoff; doubled each attempt
    cap_s: float = 30.0  # the longest wait, whatever Retry-After asks

    def should_retry(self, attempt: int, status: int | None, kind: str | None) -> bool:
        """`attempt` counts retries already made."""
        if attempt >= self.retries:
            return False
        if kind is not None:
            return kind in BEFORE_SENDING
        return status in RETRY_STATUSES

    def delay(self, attempt: int, retry_after: str | None, now: float | None = None) -> float:
        asked = parse_retry_after(retry_after, time.time() if now is None else now)
        wait = asked if asked is not None else self.base_s * (2 ** attempt)
        return max(0.0, min(wait, self.cap_s))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date; None if neither."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
