"""What the reference server would charge, per the contract's pricing.

The contract bills a fixed price per successful message; a rejected request (4xx) or a
failure (5xx) is not a successful message and is never recorded. A streamed message counts
once its stream has been delivered to the end: when the server has handed its last frame to the
connection. A client that hangs up mid-stream, before that, is not billed (the server learns of
the hang-up and stops the stream); one that hangs up after it is, read or not. A non-stream
answer is billed when it is made, as the work is done by then.

Reference-server-only extension, so a client can reconcile its own cost accounting:

* every successful answer carries the header ``x-conformance-cost: <amount> <currency>``
  (e.g. ``0.03 USD``). A stream carries it too, in its response headers, because the price of
  a message is known up front; the charge itself is still recorded only once the stream has
  been delivered to the end.
* ``GET /v1/conformance/ledger`` (behind the API key when the server has one) returns
  ``{"currency", "messages", "total", "charges": [{"endpoint", "response_id", "amount"}]}``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from conformance.suite.model import Pricing

COST_HEADER = "x-conformance-cost"


@dataclass(frozen=True)
class Charge:
    endpoint: str
    response_id: str
    amount: float
    currency: str


def _amount(value: float) -> str:
    # Plain decimal, never "3e-05": the header is for people and simple parsers alike.
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


class Ledger:
    """Thread-safe list of charges (the server may run on its own thread)."""

    def __init__(self, pricing: Pricing):
        self.pricing = pricing
        self._charges: list[Charge] = []
        self._lock = threading.Lock()

    def quote(self) -> str:
        """The `COST_HEADER` value of one successful message."""
        return f"{_amount(self.pricing.per_successful_message)} {self.pricing.currency}"

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

    def as_json(self) -> dict[str, Any]:
        """The body of ``GET /v1/conformance/ledger``."""
        charges = self.charges
        return {
            "currency": self.pricing.currency, "messages": len(charges),
            "total": round(sum(c.amount for c in charges), 10),
            "charges": [{"endpoint": c.endpoint, "response_id": c.response_id, "amount": c.amount} for c in charges],
        }
