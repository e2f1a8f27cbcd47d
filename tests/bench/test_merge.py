"""Merging raw-sample files (Locust workers, client machines) into one, and `bench report A B`."""
from __future__ import annotations

import json
from pathlib import Path

from conformance.bench.merge import merge_sample_files
from conformance.bench.samples import SampleFile
from conformance.cli import main
from tests.bench.test_runner import SCENARIO


def _run(tmp_path: Path, stub, name: str) -> Path:
    scenario = tmp_path / "quick.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / name
    assert main(["bench", str(scenario), "--base-url", stub(ttft_ms=2), "--report-dir", str(out), "--quiet"]) == 0
    return out / "samples.jsonl"


def _with_wall_start(path: Path, t0_wall_ns: int) -> Path:
    lines = path.read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), "t0_wall_ns": t0_wall_ns})
    path.write_text("\n".join(lines) + "\n")
    return path


def test_merge_aligns_sums_and_renumbers(tmp_path, stub) -> None:
    a = _with_wall_start(_run(tmp_path, stub, "a"), 10_000_000_000)
    b = _with_wall_start(_run(tmp_path, stub, "b"), 12_000_000_000)  # started 2 s after a
    fa, fb = SampleFile(a), SampleFile(b)
    merged = SampleFile(merge_sample_files([a, b], tmp_path / "m" / "samples.jsonl"))
    ra, rb, rm = list(fa.requests()), list(fb.requests()), list(merged.requests())
    assert len(rm) == len(ra) + len(rb)
    assert sorted(r["i"] for r in rm) == list(range(len(rm)))
    assert {r["w"] for r in rm[:len(ra)]} == {0} and {r["w"] for r in rm[len(ra):]} == {1}
    assert [r["sched"] for r in rm[len(ra):]] == [r["sched"] + 2_000_000 for r in rb]  # µs, onto a's zero
    (step,) = merged.steps
    assert step["value"] == 8 and step["label"] == "concurrency 8"
    assert step["sent"] == fa.steps[0]["sent"] + fb.steps[0]["sent"]
    assert step["start"] == fa.steps[0]["start"] and step["stop"] == fb.steps[0]["stop"] + 2_000_000
    assert merged.run["alignment"] == "wall-clock" and merged.run["client"]["workers"] == 2
    assert merged.run["merged_from"] == [str(a), str(b)]


def test_without_wall_clock_starts_files_are_taken_as_simultaneous(tmp_path, stub) -> None:
    a, b = _run(tmp_path, stub, "a"), _run(tmp_path, stub, "b")
    merged = SampleFile(merge_sample_files([a, b], tmp_path / "m.jsonl"))
    assert merged.run["alignment"] == "none"
    assert [r["sched"] for r in merged.requests()][-1] == [r["sched"] for r in SampleFile(b).requests()][-1]


def test_bench_report_merges_several_files(tmp_path, stub, capsys) -> None:
    a, b = _run(tmp_path, stub, "a"), _run(tmp_path, stub, "b")
    assert main(["bench", "report", str(a), str(b), "--quiet"]) == 0
    report = json.loads((a.parent / "merged" / "report.json").read_text())
    single = json.loads((a.parent / "report.json").read_text())
    assert report["steps"][0]["requests"]["ok"] > single["steps"][0]["requests"]["ok"]
    assert main(["bench", "report", str(a), str(tmp_path / "nope.jsonl"), "--quiet"]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
