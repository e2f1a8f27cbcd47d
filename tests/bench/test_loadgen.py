"""Load patterns: closed loop, constant and Poisson rates, caps, warm-up, coordinated omission."""
from __future__ import annotations

import statistics
from pathlib import Path


from conformance.bench.metrics import compute
from conformance.bench.runner import Endpoint, run_scenario
from conformance.bench.samples import SampleFile
from conformance.bench.scenario import Distribution, Load, RequestSpec, Scenario


def scenario(pattern: str, values: tuple[float, ...], duration_s: float, *, out: int = 4, **load) -> Scenario:
    return Scenario("t", ("chat_completions",), True,
                    RequestSpec(Distribution("fixed", (16,)), Distribution("fixed", (out,)), thinking=False,
                                variants=4),
                    Load(pattern, values, duration_s, **load), {"ttft_ms": 1000.0}, "test")


def run(tmp_path: Path, url: str, sc: Scenario, **kw) -> SampleFile:
    path = run_scenario(sc, Endpoint("stub", url, "k", None), tmp_path, progress=False, **kw)
    return SampleFile(path)


def max_in_flight(records: list[dict]) -> int:
    edges = []
    for r in records:
        start = r["sched"] + r["send"]
        edges += [(start, 1), (r["sched"] + r["end"], -1)]
    level = peak = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):
        level += d
        peak = max(peak, level)
    return peak


def test_closed_loop_keeps_n_in_flight_and_honours_the_cap(tmp_path, stub) -> None:
    url = stub(ttft_ms=20, token_ms=5)
    sf = run(tmp_path, url, scenario("concurrency", (3.0,), 0.6))
    records = list(sf.requests())
    assert max_in_flight(records) == 3
    # ~35 ms per request, 3 slots, 0.6 s: about 50 requests; every one succeeded
    assert 30 <= len(records) <= 60
    assert all("err" not in r and r["out"] == 4 and r["src"] == "usage" for r in records)
    assert len({r["i"] for r in records}) == len(records)
    capped = run(tmp_path / "cap", url, scenario("concurrency", (3.0,), 5.0, max_requests=7))
    assert len(list(capped.requests())) == 7
    assert capped.steps[0]["stop"] - capped.steps[0]["start"] < 2_000_000  # the cap, not the duration, ended it


def test_constant_rate_sends_on_its_schedule(tmp_path, stub) -> None:
    url = stub()
    sf = run(tmp_path, url, scenario("rate", (50.0,), 1.0))
    records = sorted(sf.requests(), key=lambda r: r["sched"])
    assert len(records) == 50
    gaps = [b["sched"] - a["sched"] for a, b in zip(records, records[1:])]
    assert all(abs(g - 20_000) <= 1 for g in gaps)  # exactly 1/R apart (µs rounding)
    assert records[0]["sched"] == sf.steps[0]["start"]


def test_poisson_rate_is_seeded_and_has_the_right_mean(tmp_path, stub) -> None:
    url = stub()
    a = sorted(r["sched"] for r in run(tmp_path / "a", url, scenario("poisson", (200.0,), 1.0, seed=5)).requests())
    b = sorted(r["sched"] for r in run(tmp_path / "b", url, scenario("poisson", (200.0,), 1.0, seed=5)).requests())
    assert 140 <= len(a) <= 260
    gaps = [y - x for x, y in zip(a, a[1:])]
    assert 3_500 <= statistics.mean(gaps) <= 6_500  # mean 1/R = 5 ms
    assert statistics.stdev(gaps) > 0.6 * statistics.mean(gaps)  # exponential: stdev ≈ mean, not 0
    # same seed, same arrival offsets
    assert [x - a[0] for x in a[:20]] == [y - b[0] for y in b[:20]]


def test_open_loop_does_not_wait_for_slow_answers(tmp_path, stub) -> None:
    url = stub(ttft_ms=600)
    sf = run(tmp_path, url, scenario("rate", (20.0,), 0.5, out=1))
    records = list(sf.requests())
    assert len(records) == 10  # all sent although none had answered when the last went out
    assert max(r["send"] for r in records) < 100_000  # each left on its schedule (the test server shares the GIL)
    assert max_in_flight(records) == 10
    figures = compute(sf.run, sf.steps, sf.requests)["steps"][0]
    assert figures["metrics"]["ttft_ms"]["min"] >= 600


def test_in_flight_cap_delays_sends_counts_the_wait_and_flags_the_run(tmp_path, stub) -> None:
    url = stub(ttft_ms=100)
    sf = run(tmp_path, url, scenario("rate", (20.0,), 0.5, out=1, max_in_flight=1))
    records = sorted(sf.requests(), key=lambda r: r["sched"])
    assert max_in_flight(records) == 1
    figures = compute(sf.run, sf.steps, sf.requests)["steps"][0]
    # Latency counts from the schedule: the queue behind the cap is in the figures (no coordinated omission).
    assert records[-1]["send"] > 200_000
    assert figures["metrics"]["e2e_ms"]["max"] > 300
    assert not figures["valid"]
    assert any("in-flight cap" in r for r in figures["invalid_reasons"])


def test_warmup_by_time_is_flagged_and_left_out(tmp_path, stub) -> None:
    url = stub(ttft_ms=5)
    sf = run(tmp_path, url, scenario("rate", (40.0,), 0.5, warmup_s=0.2))
    records = list(sf.requests())
    start = sf.steps[0]["start"]
    for r in records:
        assert bool(r.get("warm")) == (r["sched"] < start + 200_000)
    figures = compute(sf.run, sf.steps, sf.requests)["steps"][0]
    assert figures["requests"]["warmup"] == 8 and figures["requests"]["measured"] == 12


def test_sweep_runs_each_step_in_turn(tmp_path, stub) -> None:
    url = stub(ttft_ms=5)
    sf = run(tmp_path, url, scenario("concurrency", (1.0, 4.0), 0.3))
    assert [s["label"] for s in sf.steps] == ["concurrency 1", "concurrency 4"]
    assert sf.steps[1]["start"] >= sf.steps[0]["drained"]
    by_step = {0: [], 1: []}
    for r in sf.requests():
        by_step[r["s"]].append(r)
    assert max_in_flight(by_step[0]) == 1 and max_in_flight(by_step[1]) == 4


def test_worker_processes_share_the_load(tmp_path, stub) -> None:
    url = stub(ttft_ms=5)
    sf = run(tmp_path, url, scenario("rate", (40.0,), 0.5, workers=2))
    records = sorted(sf.requests(), key=lambda r: r["sched"])
    assert {r["w"] for r in records} == {0, 1}
    assert len(records) == 20 and len({r["i"] for r in records}) == 20
    gaps = [b["sched"] - a["sched"] for a, b in zip(records, records[1:])]
    assert all(abs(g - 25_000) <= 2 for g in gaps)  # the two workers interleave into one 40/s schedule
    assert not list(tmp_path.glob(".samples.w*"))  # shards merged and removed
