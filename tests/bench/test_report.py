"""Reports and plots render from a report dict alone; baselines compare within tolerances."""
from __future__ import annotations

import copy
import json
from xml.etree import ElementTree

import pytest

from conformance.bench import svg
from conformance.bench.baseline import compare, tolerances
from conformance.bench.metrics import compute
from conformance.bench.report import charts, render_html, render_markdown, terminal_summary, write_all
from conformance.bench.scenario import Load, RequestSpec, Scenario


def make_report(steps=(4.0, 8.0)) -> dict:
    sc = Scenario("r", ("chat_completions",), True, RequestSpec(), Load("concurrency", tuple(steps), 1.0),
                  {"ttft_ms": 50.0}, "test")
    run = {"started": "2026-01-01T00:00:00+00:00", "scenario": sc.as_dict(),
           "target": {"kind": "stub", "base_url": "http://127.0.0.1:1/v1", "latency": "", "model": "m"},
           "client": {"engine": "conformance", "workers": 1, "uvloop": True, "kernel_timestamps": True,
                      "python": "3.11", "cpus": 2, "loadavg_at_start": [0.1, 0.2, 0.3], "loadavg_at_end": None},
           "interrupted": False}
    step_lines, records = [], []
    for index, value in enumerate(steps):
        start = index * 2_000_000
        step_lines.append({"index": index, "label": f"concurrency {int(value)}", "pattern": "concurrency",
                           "value": value, "start": start, "stop": start + 1_000_000, "drained": start + 1_100_000,
                           "warmup_s": 0.0, "warmup_requests": 0, "capped": 0})
        for k in range(20):
            records.append({"i": len(records), "s": index, "sched": start + k * 50_000, "send": 3,
                            "end": 30_000 + 1000 * index, "st": 200, "et": [10_000, 20_000, 30_000],
                            "ek": "ccd", "out": 2, "src": "usage"})
    figures = compute(run, step_lines, lambda: iter(records))
    return {"format": "conformance-bench-report/1", "samples": "s.jsonl", "run": run, **figures}


def test_every_chart_is_well_formed_svg() -> None:
    report = make_report()
    drawn = charts(report)
    assert len(drawn) >= 9
    for caption, chart in drawn:
        root = ElementTree.fromstring(chart)
        assert root.tag.endswith("svg"), caption
        assert root.findall(".//{http://www.w3.org/2000/svg}path"), caption


def test_html_is_self_contained_and_markdown_has_the_tables(tmp_path) -> None:
    report = make_report()
    html = render_html(report)
    assert html.startswith("<!doctype html>") and "<script" not in html and " src=" not in html
    assert "VALID" in html and html.count("<svg") == len(charts(report))
    md = render_markdown(report)
    assert "| concurrency 4 | yes | 20/0 |" in md and "| TTFT (ms) | 20 |" in md
    assert "concurrency 8" in terminal_summary(report)
    paths = write_all(report, tmp_path)
    assert json.loads(paths[0].read_text())["steps"][0]["label"] == "concurrency 4"


def test_svg_handles_empty_and_single_points() -> None:
    assert "no data" in svg.render(svg.Chart("t", "x", "y", [svg.Series("s", [])]))
    one = svg.render(svg.Chart("t", "x", "y", [svg.Series("s", [(64.0, 3.0)])]))
    assert "<circle" in one
    assert svg.nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]


def test_baseline_directions_and_tolerances() -> None:
    base = make_report()
    same = compare(base, base)
    assert same["regressions"] == [] and same["rows"]
    worse = copy.deepcopy(base)
    worse["steps"][0]["metrics"]["ttft_ms"]["p50"] *= 1.5  # latency up 50 %: beyond 10 % + 1 ms
    worse["steps"][0]["throughput"]["request_per_s"] *= 0.5  # throughput halved
    better = copy.deepcopy(base)
    better["steps"][0]["metrics"]["ttft_ms"]["p50"] *= 0.5  # faster is never a regression
    result = compare(base, worse)
    assert {(r["step"], r["metric"]) for r in result["regressions"]} == {
        ("concurrency 4", "ttft_ms.p50"), ("concurrency 4", "request_per_s")}
    assert compare(base, better)["regressions"] == []
    # a scenario can loosen a tolerance, or drop a metric
    assert compare(base, worse, {"ttft_ms.p50": 0.6, "request_per_s": None})["regressions"] == []
    assert tolerances({"itl_ms.mean": {"absolute": 1}})["itl_ms.mean"] == {"relative": 0.0, "absolute": 1.0}
    unmatched = compare(make_report((16.0,)), base)
    assert unmatched["unmatched_steps"] == ["concurrency 4", "concurrency 8"]


@pytest.mark.parametrize("bad", ["nothing here", '{"steps": 1}'])
def test_bad_baseline_file_is_a_setup_error(tmp_path, bad) -> None:
    from conformance.bench.baseline import load_baseline
    from conformance.errors import SetupError

    path = tmp_path / "b.json"
    path.write_text(bad)
    with pytest.raises(SetupError):
        load_baseline(path)
