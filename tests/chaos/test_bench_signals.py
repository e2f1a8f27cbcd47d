"""Ctrl-C or SIGTERM in the middle of `conformance bench`: the raw samples so far, a valid partial
report, and exit code 130 / 143. In a subprocess, because the signal is the point."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conformance.chaos import ChaosServer
from tests.conftest import INTERRUPTIBLE_CONFORMANCE

LONG_SCENARIO = """\
kind: bench
name: long
description: long enough to be interrupted
endpoints: [chat_completions]
stream: true
request: {prompt_tokens: 16, output_tokens: 4, thinking: false}
load: {pattern: concurrency, concurrency: 2, duration_s: 120}
"""


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_bench_keeps_samples_and_writes_a_partial_report(signum: int, code: int, tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG_SCENARIO)
    out = tmp_path / "out"
    with ChaosServer() as chaos:
        proc = subprocess.Popen(
            [*INTERRUPTIBLE_CONFORMANCE, "bench", str(scenario), "--base-url", chaos.base_url,
             "--report-dir", str(out), "--no-uvloop"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert proc.stderr is not None
            assert proc.stderr.readline().startswith(b"conformance bench:")  # under way
            while len(chaos.seen) < 10:  # answers are coming in
                assert proc.poll() is None
                time.sleep(0.05)
            proc.send_signal(signum)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[0]["interrupted"] is True
    assert sum(1 for line in lines if "type" not in line) >= 5
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["interrupted"] is True and report["steps"]
    assert (out / "report.md").exists() and (out / "report.html").exists()
