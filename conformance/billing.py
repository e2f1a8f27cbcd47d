"""What a run costs: the contract's price per successful message, counted as the run goes.

The seed bills "per successful message"; this harness counts a POST answered with 2xx as one
message (the contract's `pricing.assumption` says rejected requests are not billed). The
budget is enforced before each request, so a run stops before it crosses `--max-cost`.

The preview gives two figures: the messages a run is expected to be billed for (the requests
its checks expect to succeed, no shrinking; `runner.expected_estimate`) and the worst case
(every request succeeds, every property search shrinks; `runner.request_estimate`). A run is
refused up front only when the expected cost exceeds `--max-cost`; the meter still stops it in
flight before the worst case could cross it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from conformance.errors import ConformanceError
from conformance.suite.model import Pricing


class BudgetExceeded(ConformanceError):
    """The next request could cost more than the run may spend."""


@dataclass(frozen=True)
class CostPreview:
    max_messages: int  # the worst case
    usd: float  # the worst case's price
    expected_messages: int
    expected_usd: float

    def line(self, currency: str) -> str:
        return (f"expected {self.expected_messages} billed messages ({self.expected_usd:.2f} {currency}), "
                f"at most {self.max_messages} ({self.usd:.2f} {currency})")


class Meter:
    """Counts billed messages and refuses a request that could cross the budget."""

    def __init__(self, pricing: Pricing, max_cost: float | None = None):
        self.pricing = pricing
        self.max_cost = max_cost
        self.messages = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        return round(self.messages * self.pricing.per_successful_message, 10)

    def reserve(self) -> None:
        """Before a request: could it, with those in flight, take the run past its budget?"""
        with self._lock:
            worst = (self.messages + self._in_flight + 1) * self.pricing.per_successful_message
            if self.max_cost is not None and worst > self.max_cost + 1e-9:
                raise BudgetExceeded(
                    f"budget reached: {self.messages} billed messages cost {self.spent:.2f} "
                    f"{self.pricing.currency}; one more could exceed --max-cost {self.max_cost:.2f}")
            self._in_flight += 1

    def settle(self, billed: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if billed:
                self.messages += 1


def preview(max_messages: int, expected_messages: int, pricing: Pricing) -> CostPreview:
    """The cost preview of a run expected to be billed for `expected_messages`, at most `max_messages`."""
    expected = min(expected_messages, max_messages)
    price = pricing.per_successful_message
    return CostPreview(max_messages, round(max_messages * price, 10), expected, round(expected * price, 10))
