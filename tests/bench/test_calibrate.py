"""Calibration arithmetic on records with known answers, and one short run against the stub server."""
from __future__ import annotations

import json

import pytest

from conformance.bench.calibrate import bias, calibrate, render_markdown


def record(ttft_us: int, gaps_us: list[int], *, srv: int | None = None, server_ttft_us: int | None = None,
           server_gaps_us: list[int] | None = None, **kw) -> dict:
    et = [ttft_us - 50, ttft_us]  # a role chunk, then the first token
    for g in gaps_us:
        et.append(et[-1] + g)
    et.append(et[-1])
    rec = {"sched": 0, "send": 0, "end": et[-1], "et": et, "ek": "m" + "c" * (len(gaps_us) + 1) + "d", **kw}
    if srv is not None:
        sv = [srv + server_ttft_us - 50, srv + server_ttft_us]
        for g in server_gaps_us:
            sv.append(sv[-1] + g)
        sv.append(sv[-1])
        rec["srv"], rec["sv"] = srv, sv
    return rec


def test_bias_is_measured_minus_configured() -> None:
    # configured ttft 100 ms, 20 ms per token; measured 100.4 / 100.6 ms and gaps 20.1, 19.9, 20.3
    records = [record(100_400, [20_100, 19_900]), record(100_600, [20_300]),
               record(500_000, [1], warm=1), record(1, [1], err="timeout")]
    out = bias(records, ttft_ms=100, token_ms=20)
    assert out["requests"] == 2
    assert out["ttft_bias_ms"]["mean"] == pytest.approx(0.5)
    assert out["ttft_bias_ms"]["max"] == pytest.approx(0.6)
    assert out["itl_bias_ms"]["count"] == 3
    assert out["itl_bias_ms"]["mean"] == pytest.approx((0.1 - 0.1 + 0.3) / 3)
    assert "client_ttft_bias_ms" not in out  # no server stamps: no split


def test_stamps_split_the_bias_into_server_and_client() -> None:
    # The server received the request 30 µs after it was scheduled and wrote the first token
    # 100.2 ms after that; the client saw it at 100.25 ms: the server overshot by 0.2 ms and the
    # client's own error is 0.03 + 0.02 = 0.05 ms. Gaps: written 20.5 ms, seen 20.52 ms.
    rec = record(100_250, [20_520], srv=30, server_ttft_us=100_200, server_gaps_us=[20_500])
    out = bias([rec], ttft_ms=100, token_ms=20)
    assert out["ttft_bias_ms"]["mean"] == pytest.approx(0.25)
    assert out["server_ttft_lateness_ms"]["mean"] == pytest.approx(0.2)
    assert out["client_ttft_bias_ms"]["mean"] == pytest.approx(0.05)
    assert out["server_itl_lateness_ms"]["mean"] == pytest.approx(0.5)
    assert out["client_itl_bias_ms"]["mean"] == pytest.approx(0.02)
    # the parts add up to the whole
    assert out["ttft_bias_ms"]["mean"] == pytest.approx(out["server_ttft_lateness_ms"]["mean"]
                                                        + out["client_ttft_bias_ms"]["mean"])


@pytest.mark.slow
def test_short_calibration_against_the_stub_server(tmp_path) -> None:
    result = calibrate(tmp_path, latency="ttft=30,token=5", concurrency=4, duration_s=0.8, ceiling_workers=(1,),
                       progress=False, phases=("stub", "ceiling"))
    stub = result["runs"]["stub"]
    assert stub["requests"] > 0 and stub["ttft_bias_ms"]["count"] == stub["requests"]
    # measured − configured = server lateness + client bias, request by request, so in the mean too
    assert stub["ttft_bias_ms"]["mean"] == pytest.approx(
        stub["server_ttft_lateness_ms"]["mean"] + stub["client_ttft_bias_ms"]["mean"], abs=0.002)
    assert stub["itl_bias_ms"]["count"] == stub["requests"] * 15  # 16 tokens: 15 gaps each
    assert result["ceiling"]["1"]["request_per_s"] > 0
    assert result["max_request_per_s"]["workers"] == 1
    text = render_markdown(result, "conformance bench --calibrate")
    assert "client's TTFT bias" in text and "Target for the client's bias" in text and "Client ceiling" in text
    assert json.loads(json.dumps(result)) == result
    assert (tmp_path / "stub" / "samples.jsonl").exists() and (tmp_path / "ceiling-w1" / "report.html").exists()
