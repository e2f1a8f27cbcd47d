"""`conformance bench` end to end: run, reports, `bench report FILE` recomputation, baselines, exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main

SCENARIO = """\
kind: bench
name: quick
endpoints: [chat_completions, responses, messages]
stream: true
request: {prompt_tokens: 16, output_tokens: 6, thinking: false, variants: 6}
load: {pattern: concurrency, concurrency: 4, duration_s: 0.6, warmup: {seconds: 0.1}}
slo: {ttft_ms: 1000, e2e_ms: 2000}
# The test server shares this process's interpreter lock: allow its stalls.
validity: {max_schedule_lag_p99_ms: 250}
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "quick.yaml"
    path.write_text(SCENARIO)
    return path


def bench(*args: str) -> int:
    return main(["bench", *map(str, args), "--quiet"])


def test_run_writes_samples_and_three_reports(tmp_path, stub, scenario_file, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BENCH_TEST_KEY", "sk-bench-secret-0123456789")
    out = tmp_path / "run"
    code = bench(scenario_file, "--base-url", stub(ttft_ms=5, token_ms=1), "--api-key-env", "BENCH_TEST_KEY",
                 "--report-dir", out)
    assert code == 0
    for name in ("samples.jsonl", "report.json", "report.md", "report.html"):
        assert (out / name).exists()
        assert "sk-bench-secret" not in (out / name).read_text()  # the key is never written
    report = json.loads((out / "report.json").read_text())
    step = report["steps"][0]
    assert report["valid"] and step["valid"]
    assert set(step["requests"]["by_endpoint"]) == {"chat_completions", "responses", "messages"}
    assert step["errors"]["rate"] == 0 and step["tokens"]["source"]["usage"] == step["requests"]["ok"]
    assert step["metrics"]["ttft_ms"]["p50"] >= 5 and step["metrics"]["output_tokens"]["mean"] == 6
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 8 and "<script" not in html and " src=" not in html
    assert "TTFT: cumulative distribution" in html and "Timeline" in html
    assert "| concurrency 4 | yes |" in (out / "report.md").read_text()
    assert "quick: valid" in capsys.readouterr().out


def test_report_command_recomputes_the_same_figures(tmp_path, stub, scenario_file) -> None:
    out = tmp_path / "run"
    assert bench(scenario_file, "--base-url", stub(ttft_ms=2), "--report-dir", out) == 0
    first = json.loads((out / "report.json").read_text())
    again = tmp_path / "again"
    assert bench("report", out / "samples.jsonl", "--out", again) == 0
    second = json.loads((again / "report.json").read_text())
    assert first["steps"] == second["steps"] and first["timeline"] == second["timeline"]


def test_baseline_regression_exits_1(tmp_path, stub, scenario_file, capsys) -> None:
    out = tmp_path / "run"
    assert bench(scenario_file, "--base-url", stub(ttft_ms=20), "--report-dir", out) == 0
    samples = out / "samples.jsonl"
    # against itself: no regression
    assert bench("report", samples, "--out", tmp_path / "same", "--baseline", out / "report.json") == 0
    # a baseline twice as fast on TTFT and twice the throughput: regressions
    base = json.loads((out / "report.json").read_text())
    for step in base["steps"]:
        for stat in ("p50", "p99"):
            step["metrics"]["ttft_ms"][stat] /= 2
        step["throughput"]["request_per_s"] *= 2
    (tmp_path / "fast.json").write_text(json.dumps(base))
    capsys.readouterr()
    assert bench("report", samples, "--out", tmp_path / "cmp", "--baseline", tmp_path / "fast.json") == 1
    report = json.loads((tmp_path / "cmp" / "report.json").read_text())
    regressed = {r["metric"] for r in report["baseline"]["regressions"]}
    assert {"ttft_ms.p50", "ttft_ms.p99", "request_per_s"} <= regressed
    assert "REGRESSION" in capsys.readouterr().err
    assert "Baseline" in (tmp_path / "cmp" / "report.md").read_text()


def test_invalid_run_exits_3_and_says_why(tmp_path, stub, scenario_file, capsys) -> None:
    text = SCENARIO.replace("{pattern: concurrency, concurrency: 4,", "{pattern: rate, rate: 40, max_in_flight: 1,")
    scenario_file.write_text(text)
    assert bench(scenario_file, "--base-url", stub(ttft_ms=60), "--report-dir", tmp_path / "run") == 3
    err = capsys.readouterr().err
    assert "INVALID" in err and "in-flight cap" in err
    assert "INVALID" in (tmp_path / "run" / "report.md").read_text()


def test_overrides_make_a_sweep(tmp_path, stub, scenario_file) -> None:
    out = tmp_path / "run"
    assert bench(scenario_file, "--base-url", stub(), "--report-dir", out, "--rate", "20", "40",
                 "--duration", "0.3") == 0
    report = json.loads((out / "report.json").read_text())
    assert [s["label"] for s in report["steps"]] == ["rate 20/s", "rate 40/s"]


def test_usage_errors_exit_2(tmp_path, capsys) -> None:
    assert bench("no-such-scenario") == 2
    assert bench("report", tmp_path / "missing.jsonl") == 2
    (tmp_path / "x.jsonl").write_text('{"type":"run"}\n')
    assert bench("report", tmp_path / "x.jsonl") == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.slow
def test_reference_server_in_its_own_process(tmp_path, scenario_file) -> None:
    out = tmp_path / "run"
    assert bench(scenario_file, "--report-dir", out, "--duration", "0.5") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["target"]["kind"] == "reference"
    assert report["steps"][0]["requests"]["ok"] > 0 and report["steps"][0]["errors"]["rate"] == 0


@pytest.mark.slow
def test_stub_server_option(tmp_path, scenario_file) -> None:
    out = tmp_path / "run"
    assert bench(scenario_file, "--stub-server", "--latency", "ttft=10", "--report-dir", out,
                 "--duration", "0.3") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["target"]["kind"] == "stub" and report["steps"][0]["metrics"]["ttft_ms"]["min"] >= 10
