"""The benchmark client's own per-event and per-request work (`conformance.bench`)."""
from __future__ import annotations

import pytest

from benchmarks.conftest import ENDPOINTS
from conformance.bench import events
from conformance.bench.httpclient import Result, _Conn
from conformance.bench.samples import record


class _Pool:
    def _release(self, conn) -> None:  # noqa: D401 - stand-in
        pass


def _chunked(frames: list[bytes]) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(f), f) for f in frames] + [b"0\r\n\r\n"]


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_client_reads_a_stream(benchmark, recorded, endpoint) -> None:
    """HTTP framing and SSE splitting of one whole stream, one read per event."""
    reads = [HEAD] + _chunked(recorded[endpoint].frames)

    def run() -> int:
        conn = _Conn(_Pool())  # type: ignore[arg-type]
        res = Result(0)
        conn.result, conn.state = res, 0
        for i, data in enumerate(reads):
            conn.data_received(data, i + 1)
        return len(res.events)
    assert benchmark(run) == len(recorded[endpoint].frames)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_classify(benchmark, recorded, endpoint) -> None:
    frames = recorded[endpoint].frames
    kinds = benchmark(events.classify, endpoint, frames)
    assert kinds.endswith("d")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_record(benchmark, recorded, endpoint) -> None:
    frames = recorded[endpoint].frames
    res = Result(1_000)
    res.start, res.hdr, res.end, res.status, res.sse = 2_000, 3_000, 90_000_000, 200, True
    res.events = [(5_000 + i * 1_000_000, f) for i, f in enumerate(frames)]
    rec = benchmark(record, res, i=1, step=0, worker=0, variant=0, endpoint=endpoint, t0=0, warm=False)
    assert rec["src"] == "usage"
