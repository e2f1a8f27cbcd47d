"""The client's RSS sampler: readings of live processes, and start / peak / end per process."""
from __future__ import annotations

import os

from conformance.bench.memory import RssSampler, rss_bytes, summarise


def test_reads_this_process_and_skips_a_missing_one():
    assert rss_bytes(os.getpid()) > 1 << 20
    sampler = RssSampler({"me": os.getpid(), "gone": 2**22 + 12345}, t0=0, every_ns=10**12)
    sampler.poll()
    sampler.poll()  # too soon: not sampled again
    sampler.poll(force=True)
    assert len(sampler.series["me"]) == 2 and "gone" not in sampler.series
    entry = sampler.as_dict()["processes"]["me"]
    assert entry["start_mib"] > 1 and entry["peak_mib"] >= entry["end_mib"] and len(entry["samples"]) == 2


def test_summary_of_samples():
    assert summarise([(0.0, 40.0), (1.0, 52.5), (2.0, 41.0)]) == {"start_mib": 40.0, "peak_mib": 52.5, "end_mib": 41.0}
    assert summarise([]) == {"start_mib": None, "peak_mib": None, "end_mib": None}
