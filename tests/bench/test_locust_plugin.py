"""The locustfile: Locust runs the scenario, reports LLM metrics, and each worker writes bench samples."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.bench.metrics import locust_events, request_metrics
from conformance.bench.servers import stub_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_locust_headless_run_writes_samples_and_llm_stats(tmp_path) -> None:
    locust = Path(sys.executable).parent / "locust"
    if not locust.exists():
        pytest.skip("locust is not installed (pip install -e '.[bench]')")
    with stub_server("ttft=10,token=1") as url:
        proc = subprocess.run(
            [str(locust), "-f", str(ROOT / "locustfile.py"), "--headless", "-u", "4", "-r", "4", "-t", "4s",
             "--host", url, "--bench-scenario", "chat-stream", "--bench-report-dir", str(tmp_path),
             "--only-summary", "--csv", str(tmp_path / "locust")],
            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = tmp_path.glob("locust-*")
    report = json.loads((run_dir / "report.json").read_text())
    step = report["steps"][0]
    assert report["run"]["client"]["engine"] == "locust" and step["label"] == "concurrency 4"
    assert step["requests"]["ok"] > 0 and step["errors"]["rate"] == 0, (step["requests"], proc.stderr[-1500:])
    low = [r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines()[2:])
           if "err" not in r and request_metrics(r)["ttft_ms"] < 10]
    assert not low, json.dumps(low[:2])
    stats = (tmp_path / "locust_stats.csv").read_text()
    for name in ("TTFT", "TTFC", "TPOT", "ITL", "E2E", "chat_completions"):
        assert f",{name}," in stats
    row = next(line for line in stats.splitlines() if ",TTFT," in line)
    assert 0 < int(row.split(",")[2]) <= step["requests"]["ok"]


@pytest.mark.slow
def test_master_and_worker_give_one_merged_result(tmp_path) -> None:
    locust = Path(sys.executable).parent / "locust"
    if not locust.exists():
        pytest.skip("locust is not installed (pip install -e '.[bench]')")
    from conformance.bench.servers import free_port

    port = free_port()
    common = ["-f", str(ROOT / "locustfile.py"), "--bench-report-dir", str(tmp_path), "--master-port", str(port)]
    with stub_server("ttft=10,token=1") as url:
        master = subprocess.Popen(
            [str(locust), *common[:4], "--master", "--headless", "--expect-workers", "1", "-u", "4", "-r", "4",
             "-t", "4s", "--host", url, "--only-summary", "--master-bind-port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        worker = subprocess.Popen([str(locust), *common, "--worker"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        try:
            out, _ = master.communicate(timeout=90)
            worker.communicate(timeout=30)
        finally:
            for proc in (master, worker):
                if proc.poll() is None:
                    proc.kill()
    assert master.returncode == 0, out[-2000:]
    assert "worker(s) merged" in out, out[-2000:]
    (merged,) = tmp_path.glob("locust-*-master")
    (own,) = (d for d in tmp_path.glob("locust-*") if d != merged)
    lines = (merged / "samples.jsonl").read_text().splitlines()
    assert len(lines) == len((own / "samples.jsonl").read_text().splitlines())  # every record reached the master
    run = json.loads(lines[0])
    assert run["client"]["engine"] == "locust" and run["alignment"] == "wall-clock"
    step = json.loads((merged / "report.json").read_text())["steps"][0]
    assert step["label"] == "concurrency 4" and step["requests"]["ok"] > 0 and step["errors"]["rate"] == 0


def test_locust_events_follow_the_definitions() -> None:
    # (conformance.bench.locust_plugin itself is only ever imported by Locust, in its own process:
    # importing locust monkey-patches the whole interpreter with gevent.)
    rec = {"sched": 0, "send": 0, "end": 40_000, "et": [1_000, 10_000, 20_000, 30_000, 40_000], "ek": "mcccd",
           "out": 3, "st": 200}
    fired = locust_events(rec, "chat_completions")
    got = {(f["request_type"], f["name"]): f["response_time"] for f in fired}
    m = request_metrics(rec)
    assert got[("LLM", "TTFT")] == m["ttft_ms"] == 10.0
    assert got[("LLM", "TPOT")] == m["tpot_ms"]
    assert got[("POST", "chat_completions")] == 40.0
    assert sum(1 for f in fired if f["name"] == "ITL") == 2
    failed = locust_events({**rec, "err": "http-500"}, "chat_completions")
    assert len(failed) == 1 and str(failed[0]["exception"]) == "http-500"
