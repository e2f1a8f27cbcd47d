"""Adaptive concurrency for a run that sends many requests at once: a gate that admits at most
`limit` requests, where a 429 halves the limit (never below one) and pauses every request for
the server's Retry-After, and successes win it back one at a time (additive increase,
multiplicative decrease, as TCP does).

The runner attaches one `Limiter` to its client for a run with a concurrency above one
(`Client.limiter`); `Client.send` asks it for a slot before each attempt and tells it how the
attempt went. A throttled request is sent again (not billed: a 429 is not a successful
message) up to `max_waits` times, each failed attempt kept in the exchange's `retries` like any
retry. Every cut, give-up and recovery is an event (`on_event`), for the report's
`run.throttling`. One event loop only: the client's.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

THROTTLE_STATUS = 429
MAX_THROTTLE_WAITS = 5  # a request throttled more often than this is given back with its 429


@dataclass(frozen=True)
class ThrottleEvent:
    """What the run did about one 429 (`waited`, `gave-up`), or that the limit is whole again
    (`recovered`). `at_s` counts from the limiter's start (the run's)."""

    at_s: float
    action: str
    endpoint: str
    label: str  # which check the request was for
    status: int | None
    retry_after: str | None  # the server's header, as sent
    wait_s: float
    limit_before: int
    limit_after: int

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["for"] = out.pop("label")
        return out


class Limiter:
    """At most `limit` (≤ `ceiling`) requests in flight; see the module docstring."""

    def __init__(self, ceiling: int, *, on_event: Callable[[dict[str, Any]], None] | None = None,
                 max_waits: int = MAX_THROTTLE_WAITS, clock: Callable[[], float] = time.monotonic):
        if ceiling < 1:
            raise ValueError(f"a limiter admits at least one request, not {ceiling}")
        self.ceiling = ceiling
        self.limit = ceiling
        self.lowest = ceiling  # the lowest the limit went
        self.max_waits = max_waits
        self.in_flight = 0
        self.peak = 0  # the most requests in flight at once
        self.events: list[ThrottleEvent] = []
        self._on_event = on_event
        self._clock = clock
        self._started = clock()
        self._resume_at = 0.0  # no request is admitted before (Retry-After)
        self._cuts = 0  # how many times the limit was cut: a request's epoch
        self._successes = 0  # since the last change of the limit
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self) -> int:
        """Wait for a slot; returns the request's epoch (for `throttled`)."""
        while True:
            pause = self._resume_at - self._clock()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            if self.in_flight < self.limit:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                return self._cuts
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:  # cancelled, perhaps after being woken: pass the wake-up on
                self._waiters.remove(waiter)
                self._wake()
                raise
            self._waiters.remove(waiter)

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def succeeded(self) -> None:
        """An attempt that was not throttled: after `limit` of them in a row, one more slot."""
        if self.limit >= self.ceiling:
            return
        self._successes += 1
        if self._successes < self.limit:
            return
        before, self._successes = self.limit, 0
        self.limit += 1
        self._wake()
        if self.limit == self.ceiling:
            self._record("recovered", "", "", None, None, 0.0, before)

    def throttled(self, epoch: int, endpoint: str, label: str, retry_after: str | None, wait_s: float,
                  waits_so_far: int) -> float | None:
        """A 429: cut the limit (once for all requests sent before the last cut) and pause every
        request for `wait_s`; returns the wait, or None when this request has waited enough."""
        before = self.limit
        if epoch == self._cuts:
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self._cuts += 1
        self._successes = 0
        if waits_so_far >= self.max_waits:
            self._record("gave-up", endpoint, label, THROTTLE_STATUS, retry_after, 0.0, before)
            return None
        self._resume_at = max(self._resume_at, self._clock() + wait_s)
        self._record("waited", endpoint, label, THROTTLE_STATUS, retry_after, wait_s, before)
        return wait_s

    def as_dicts(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.events]

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        for waiter in self._waiters[:max(0, free)]:
            if not waiter.done():
                waiter.set_result(None)

    def _record(self, action: str, endpoint: str, label: str, status: int | None, retry_after: str | None,
                wait_s: float, before: int) -> None:
        event = ThrottleEvent(round(self._clock() - self._started, 3), action, endpoint, label, status,
                              retry_after, round(wait_s, 3), before, self.limit)
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event.as_dict())
