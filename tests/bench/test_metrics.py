"""Every figure from hand-made records whose right answers are known."""
from __future__ import annotations

import math
import statistics

import pytest

from conformance.bench.metrics import cdf, compute, meets_slo, percentile, request_metrics, stats, step_window


def rec(i=0, sched=0, et=(), ek="", end=0, out=None, err=None, warm=False, send=0, step=0, **kw):
    r = {"i": i, "s": step, "sched": sched, "send": send, "end": end, "st": 200 if err is None else 500,
         "et": list(et), "ek": ek, "ep": "chat_completions"}
    if out is not None:
        r["out"], r["src"] = out, "usage"
    if err:
        r["err"] = err
    if warm:
        r["warm"] = 1
    r.update(kw)
    return r


def test_ttft_counts_reasoning_and_ttfc_skips_role_chunks() -> None:
    # role chunk at 5 ms, reasoning at 10 and 12 ms, content at 20, 22, 24 ms, usage + done at 25 ms
    m = request_metrics(rec(et=[5000, 10000, 12000, 20000, 22000, 24000, 25000, 25000], ek="mttcccud",
                            end=25000, out=5))
    assert m["ttft_ms"] == 10.0
    assert m["ttfc_ms"] == 20.0
    assert m["e2e_ms"] == 25.0
    assert m["tpot_ms"] == pytest.approx((25.0 - 10.0) / (5 - 1))
    assert m["chunk_gap_ms"] == [2.0, 8.0, 2.0, 2.0]
    assert m["itl_ms"] == [2.0, 8.0, 2.0, 2.0]  # 5 events, 5 tokens: one to one
    assert m["tokens_per_s"] == pytest.approx(5 / 0.025)


def test_itl_spreads_tokens_evenly_when_events_carry_several() -> None:
    # 3 token events but the server counted 6 tokens: each event carried 2 tokens.
    m = request_metrics(rec(et=[10000, 14000, 18000, 18000], ek="cccd", end=18000, out=6))
    assert m["chunk_gap_ms"] == [4.0, 4.0]
    assert m["itl_ms"] == [2.0, 2.0]
    assert m["tpot_ms"] == pytest.approx(8.0 / 5)


def test_single_token_and_non_stream_have_no_tpot_or_ttft() -> None:
    assert request_metrics(rec(et=[1000, 2000], ek="cd", end=2000, out=1))["tpot_ms"] is None
    m = request_metrics(rec(end=40000, out=8, et=[], ek=""))
    assert m["ttft_ms"] is None and m["tpot_ms"] is None and m["e2e_ms"] == 40.0


def test_percentiles_interpolate_like_numpy() -> None:
    data = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(data, 50) == 3.0
    assert percentile(data, 90) == pytest.approx(7.6)  # numpy.percentile(data, 90)
    assert percentile(data, 99) == pytest.approx(9.76)
    s = stats([4.0, 1.0, 10.0, 3.0, 2.0])
    assert s["count"] == 5 and s["mean"] == 4.0 and s["min"] == 1.0 and s["max"] == 10.0
    assert s["stdev"] == pytest.approx(statistics.stdev(data))
    assert stats([])["count"] == 0 and stats([])["p50"] is None
    assert cdf(sorted(data))[0] == [1.0, 0] and cdf(sorted(data))[-1] == [10.0, 100]


def test_goodput_slo_and_failed_requests_miss() -> None:
    ok = rec(et=[100_000, 110_000, 120_000], ek="ccd", end=120_000, out=2)
    slow = rec(et=[600_000, 610_000, 620_000], ek="ccd", end=620_000, out=2)
    failed = rec(end=1000, err="http-500")
    slo = {"ttft_ms": 500, "tpot_ms": 50}
    assert meets_slo(ok, request_metrics(ok), slo)
    assert not meets_slo(slow, request_metrics(slow), slo)
    assert not meets_slo(failed, request_metrics(failed), slo)
    assert not meets_slo(ok, request_metrics(ok), {"itl_ms": 5})  # the largest ITL is 10 ms


def _run(slo=None, pattern="concurrency", value=2.0, validity=None):
    return {"scenario": {"slo": slo or {}, "validity": validity or {"max_schedule_lag_p99_ms": 10.0,
                                                                    "min_rate_ratio": 0.95}}}


def _step(index=0, start=0, stop=10_000_000, drained=11_000_000, pattern="concurrency", value=2.0, **kw):
    return {"index": index, "label": f"step {index}", "pattern": pattern, "value": value, "start": start,
            "stop": stop, "drained": drained, "warmup_s": 0.0, "warmup_requests": 0, "capped": 0, **kw}


def test_throughput_counts_only_the_steady_state_window() -> None:
    # Window 1 s .. 10 s (warm-up 1 s). One request per second ending at k + 0.5 s, 4 tokens each.
    records = []
    for k in range(12):
        sched = k * 1_000_000
        records.append(rec(i=k, sched=sched, et=[100_000, 200_000, 300_000, 400_000, 500_000], ek="ccccd",
                           end=500_000, out=4, warm=k < 1))
    step = _step(stop=10_000_000, drained=12_000_000, warmup_s=1.0)
    result = compute(_run(), [step], lambda: iter(records))["steps"][0]
    assert result["window"] == {"start_s": 1.0, "end_s": 10.0, "seconds": 9.0}
    # Requests 1..9 end at 1.5 .. 9.5 s inside the window; 10 ends at 10.5 s, after it.
    assert result["requests"]["measured"] == 11 and result["requests"]["warmup"] == 1
    assert result["throughput"]["request_per_s"] == pytest.approx(9 / 9.0)
    # tokens arriving inside [1, 10] s: requests 1..9 all 4, request 10 none (10.1 s on): 36 tokens
    assert result["throughput"]["output_tokens_per_s"] == pytest.approx(36 / 9.0)
    assert result["metrics"]["ttft_ms"]["count"] == 11 and result["metrics"]["ttft_ms"]["p50"] == 100.0
    assert result["tokens"]["source"] == {"usage": 11}
    assert result["valid"]


def test_error_rate_by_kind_and_goodput_fraction() -> None:
    records = [rec(i=0, sched=1_000_000, et=[10_000, 20_000], ek="cd", end=20_000, out=1),
               rec(i=1, sched=2_000_000, end=5_000, err="http-429"),
               rec(i=2, sched=3_000_000, end=5_000, err="http-429"),
               rec(i=3, sched=4_000_000, end=60_000_000, err="timeout")]
    result = compute(_run(slo={"e2e_ms": 100}), [_step()], lambda: iter(records))["steps"][0]
    assert result["errors"]["by_kind"] == {"http-429": 2, "timeout": 1}
    assert result["errors"]["rate"] == 0.75
    assert result["errors"]["rate_by_kind"]["http-429"] == 0.5
    assert result["goodput"]["fraction"] == 0.25
    assert result["goodput"]["request_per_s"] == pytest.approx(1 / 10.0)


def test_lagging_client_and_missed_rate_make_the_step_invalid() -> None:
    # Open loop at 10/s for 10 s but only 50 sends, with 30 ms lag each.
    records = [rec(i=k, sched=k * 200_000, send=30_000, et=[40_000, 50_000], ek="cd", end=50_000, out=1)
               for k in range(50)]
    step = _step(pattern="rate", value=10.0)
    out = compute(_run(), [step], lambda: iter(records))
    result = out["steps"][0]
    assert not result["valid"] and not out["valid"]
    text = " ".join(result["invalid_reasons"])
    assert "schedule lag p99 30.00 ms" in text and "sent 5.0/s" in text
    assert result["metrics"]["schedule_lag_ms"]["p50"] == 30.0
    capped = compute(_run(), [_step(capped=3)], lambda: iter(records[:1]))["steps"][0]
    assert "in-flight cap" in " ".join(capped["invalid_reasons"])


def test_warmup_by_requests_moves_the_window_start() -> None:
    records = [rec(i=k, sched=k * 100_000, end=1000, et=[500, 1000], ek="cd", out=1, warm=k < 5) for k in range(20)]
    step = _step(stop=2_000_000, warmup_requests=5)
    result = compute(_run(), [step], lambda: iter(records))["steps"][0]
    assert result["window"]["start_s"] == 0.4  # the last warm-up request's scheduled instant
    assert step_window(step) == (0, 2_000_000)


def test_timeline_bins_cover_the_run() -> None:
    records = [rec(i=k, sched=k * 500_000, et=[1000, 2000], ek="cd", end=2000, out=1) for k in range(20)]
    timeline = compute(_run(), [_step(stop=10_000_000, drained=10_000_000)], lambda: iter(records))["timeline"]
    assert math.isclose(sum(timeline["done_per_s"]) * timeline["bin_s"], 20)
    assert timeline["steps"][0]["window"] == [0.0, 10.0]
