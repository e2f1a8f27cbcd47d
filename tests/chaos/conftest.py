"""Chaos tests: the harness against a server that breaks one thing at a time.

Every command runs in-process through `main()`; a hang would stop the whole session, so each
test runs under a watchdog that dumps every thread's stack and exits instead of waiting forever.
"""
from __future__ import annotations

import faulthandler
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from conformance.cli import main

WATCHDOG_S = 90
# Generous bounds, so that a busy machine never turns a healthy answer into a timeout ...
TIMEOUTS = ["--connect-timeout", "5", "--first-byte-timeout", "10", "--idle-timeout", "10", "--total-timeout", "20"]
# ... and a short one only where the fault is a silence, so each faulty request gives up quickly.
FAULT_TIMEOUTS = {
    "slow_loris": ["--first-byte-timeout", "0.5"],
    "stall": ["--idle-timeout", "0.4"],
    "trickle": ["--total-timeout", "0.8"],
}
# One non-stream and two stream requests on one endpoint, after the run's preflight request.
RUN_SELECTION = "chat_completions and (response_shape or stream_framing)"
TINY_SCENARIO = """\
kind: bench
name: tiny
description: a handful of short streams on two endpoints
endpoints: [chat_completions, messages]
stream: true
request: {prompt_tokens: 16, output_tokens: 4, thinking: false}
load: {pattern: concurrency, concurrency: 2, duration_s: 0.6, max_requests: 4}
"""


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True, file=sys.stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SCENARIO)
    return path


def run(base_url: str, report_dir: Path, *extra: str) -> int:
    return main(["run", "--base-url", base_url, "--report-dir", str(report_dir), "--no-color",
                 "-k", RUN_SELECTION, *TIMEOUTS, *extra])


def bench(scenario: Path, base_url: str, report_dir: Path, *extra: str) -> int:
    return main(["bench", str(scenario), "--base-url", base_url, "--report-dir", str(report_dir), "--quiet",
                 "--no-uvloop", *TIMEOUTS, *extra])


def report(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "report.json").read_text())


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and "Error:" not in text.replace("conformance: error:", ""), text


# mode → the failure kind a run's request log and a bench's samples must count
SERVER_FAULTS = {
    "reset": "reset",
    "truncate": "incomplete",
    "bad_json": "bad-json",
    "bad_utf8": "bad-utf8",
    "slow_loris": "first-byte-timeout",
    "stall": "idle-timeout",
    "trickle": "timeout",
    "huge": "too-large",
    "http_429": "http-429",
    "http_503": "http-503",
    "redirect": "redirect",
}
