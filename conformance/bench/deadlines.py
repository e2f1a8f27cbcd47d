"""Callbacks at absolute monotonic instants, late by microseconds rather than the event loop's milliseconds.

An event loop's timers are too coarse to lay known delays: uvloop (libuv) counts in whole
milliseconds from a loop time cached at the start of the turn, so a timer fires up to a
millisecond early or late, and the standard loop adds its own slack. The stub server's known
delays must be exact, or calibration measures the server instead of the client. So the loop's
timer is only asked to wake up `margin` before the earliest deadline; the rest is slept
precisely (`time.sleep` is `clock_nanosleep` on Linux, with the thread's timer slack cut to
1 ns) — sleeping, not spinning, so the stub leaves the CPU to the client it is measuring.
While one deadline is awaited the loop is blocked, so it is handed back at least every `hold`
to read new requests (whose deadlines count from their kernel arrival stamps, not from when
they were read).
"""
from __future__ import annotations

import asyncio
import heapq
import sys
import time
from itertools import count
from time import perf_counter_ns
from typing import Any, Callable

_PR_SET_TIMERSLACK = 29


def tighten_timer_slack() -> bool:
    """Ask Linux to wake this thread's sleeps on time (default slack: 50 µs); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Deadline:
    """A scheduled callback; `cancel()` keeps it from running."""

    __slots__ = ("fn", "args")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn: Callable[..., Any] | None = fn
        self.args = args

    def cancel(self) -> None:
        self.fn = None


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, margin_ns: int = 2_000_000, hold_ns: int = 2_000_000):
        self.loop = loop
        self.margin_ns = margin_ns  # the loop's timer wakes this long before a deadline
        self.hold_ns = hold_ns  # the longest the loop is kept from its other work
        self._heap: list[tuple[int, int, Deadline]] = []
        self._seq = count()
        self._timer: asyncio.Handle | None = None
        self._timer_for: int | None = None  # the deadline the armed timer wakes up for

    def at(self, due_ns: int, fn: Callable[..., Any], *args: Any) -> Deadline:
        entry = Deadline(fn, args)
        heapq.heappush(self._heap, (due_ns, next(self._seq), entry))
        if self._heap[0][2] is entry:
            self._arm()
        return entry

    def _arm(self) -> None:
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._timer_for is not None and self._timer_for <= due:
                return  # already awake in time for it
            self._timer.cancel()
        delay = due - self.margin_ns - perf_counter_ns()
        self._timer_for = due
        self._timer = self.loop.call_later(delay / 1e9, self._fire) if delay > 0 else self.loop.call_soon(self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_for = None
        started = perf_counter_ns()
        heap = self._heap
        while heap:
            due, _, entry = heap[0]
            now = perf_counter_ns()
            if due > now:
                if due - now > self.margin_ns or now - started > self.hold_ns:
                    break  # the loop's timer (or its next turn) will bring us back
                time.sleep((due - now) / 1e9)
                continue
            heapq.heappop(heap)
            if entry.fn is not None:
                entry.fn(*entry.args)
        self._arm()


__all__ = ["Deadline", "Deadlines", "tighten_timer_slack"]
