"""JSON decode of stream chunks, as `stream_problems` and `stream_reply` do for every event."""
from __future__ import annotations

import json

import pytest

from benchmarks.conftest import ENDPOINTS


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_decode_every_chunk(benchmark, recorded, endpoint) -> None:
    datas = [t.event.data for t in recorded[endpoint].exchange.events if t.event.data != "[DONE]"]

    def run() -> int:
        return sum(1 for d in datas if json.loads(d) is not None)
    assert benchmark(run) == len(datas)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_stream_reply(benchmark, recorded, endpoint) -> None:
    r = recorded[endpoint]
    reply = benchmark(r.wire.stream_reply, r.exchange)
    assert reply.text
