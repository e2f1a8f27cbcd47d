"""Per-protocol event validation: `WireProtocol.stream_problems` (schemas and grammar)."""
from __future__ import annotations

import pytest

from benchmarks.conftest import ENDPOINTS


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stream_problems(benchmark, recorded, endpoint) -> None:
    r = recorded[endpoint]
    assert benchmark(r.wire.stream_problems, r.exchange, r.request) == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_is_content_per_event(benchmark, recorded, endpoint) -> None:
    r = recorded[endpoint]
    events = [t.event for t in r.exchange.events]

    def run() -> int:
        return sum(1 for e in events if r.wire.is_content(e))
    assert benchmark(run) > 0
