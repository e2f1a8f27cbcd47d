"""SSE parsing: `conformance.transport.sse.SSEDecoder` over recorded streams."""
from __future__ import annotations

import pytest

from benchmarks.conftest import ENDPOINTS
from conformance.transport.sse import SSEDecoder


def _decode(raw: bytes, size: int) -> int:
    decoder = SSEDecoder()
    n = 0
    for i in range(0, len(raw), size):
        n += len(decoder.feed(raw[i:i + size]))
    decoder.flush()
    return n


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_decode_whole_stream(benchmark, recorded, endpoint) -> None:
    raw = recorded[endpoint].raw
    assert benchmark(_decode, raw, len(raw)) == len(recorded[endpoint].frames)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_decode_event_by_event(benchmark, recorded, endpoint) -> None:
    frames = recorded[endpoint].frames

    def run() -> int:
        decoder = SSEDecoder()
        return sum(len(decoder.feed(f)) for f in frames)
    assert benchmark(run) == len(frames)


def test_decode_in_small_pieces(benchmark, recorded) -> None:
    raw = recorded["chat_completions"].raw
    assert benchmark(_decode, raw, 7) == len(recorded["chat_completions"].frames)
