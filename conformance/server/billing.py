"""What the reference server would charge, per the contract's pricing.

The contract bills a fixed price per successful message; a rejected request (4xx) or a
failure (5xx) is not a successful message and is never recorded. A streamed message counts
once its stream has been delivered to the end.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from conformance.suite.model import Pricing


@dataclass(frozen=True)
class Charge:
    endpoint: str
    response_id: str
    amount: float
    currency: str


class Ledger:
    """Thread-safe list of charges (the server may run on its own thread)."""

    def __init__(self, pricing: Pricing):
        self.pricing = pricing
        self._charges: list[Charge] = []
        self._lock = threading.Lock()

    def record_message(self, endpoint: str, response_id: str) -> Charge:
        charge = Charge(endpoint, response_id, self.pricing.per_successful_message, self.pricing.currency)
        with self._lock:
            self._charges.append(charge)
        return charge

    @property
    def charges(self) -> tuple[Charge, ...]:
        with self._lock:
            return tuple(self._charges)

    @property
    def total(self) -> float:
        return round(sum(c.amount for c in self.charges), 10)
