"""`conformance run` end to end against the reference server on a real loopback port."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from tests.conftest import INTERRUPTIBLE_CONFORMANCE

pytestmark = pytest.mark.slow
CANARY = "sk-canary-9f8e7d6c5b4a39281706"


def _report(directory: Path) -> dict:
    return json.loads((directory / "report.json").read_text())


def test_run_passes_and_writes_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--report-dir", str(tmp_path), "--no-color", "-k", "chat_completions"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = _report(tmp_path)
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] > 50
    passed = {r["check"] for r in report["results"] if r["status"] == "passed" and r["endpoint"] == "chat_completions"}
    assert {"response_shape", "stream_framing", "parameter_ranges"} <= passed
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "summary.md").exists()
    assert any(line.startswith("== ") and "passed" in line for line in out.splitlines())
    assert str(tmp_path / "summary.md") in out
    assert report["run"]["assumptions"], "the seed's silences must be listed"


def test_broken_temperature_range_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--report-dir", str(tmp_path), "--no-color", "-k", "chat_completions and ranges",
                 "--reference-fault", "accept_out_of_range:temperature"])
    out = capsys.readouterr().out
    assert code == 1
    failed = [r for r in _report(tmp_path)["results"] if r["status"] == "failed"]
    assert failed and all("temperature" in r["case"] and "temperature" in r["message"] for r in failed)
    assert "FAILED parameter_ranges[chat_completions-temperature" in out


def test_unreachable_target_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--report-dir", str(tmp_path), "--base-url", "http://127.0.0.1:9/v1", "--no-color"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "cannot reach" in err
    assert _report(tmp_path)["run"]["aborted"].startswith("cannot reach")


def test_wrong_key_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.server.app import create_app
    from conformance.server.running import start_server
    from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

    monkeypatch.setenv("WRONG_KEY", CANARY)

    server = start_server(create_app(load_contract(DEFAULT_CONTRACT), api_key="right-key-456789"))
    try:
        code = main(["run", "--report-dir", str(tmp_path), "--base-url", server.base_url,
                     "--api-key-env", "WRONG_KEY", "--no-color"])
    finally:
        server.stop()
    captured = capsys.readouterr()
    assert code == 2
    assert "rejected the API key (401" in captured.err and len(captured.err.strip().splitlines()) == 1
    for name in ("report.json", "junit.xml", "summary.md"):
        assert CANARY not in (tmp_path / name).read_text()
    assert CANARY not in captured.out + captured.err


def test_missing_live_key_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMPIRIOLABS_API_KEY", raising=False)
    code = main(["run", "--target", "live", "--report-dir", str(tmp_path)])
    assert code == 2
    assert "EMPIRIOLABS_API_KEY" in capsys.readouterr().err


def test_malformed_suite_exit_2_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: contract\nname: x\nmodel: y\nbogus: 1\n")
    assert main(["run", "--suite", str(bad), "--report-dir", str(tmp_path / "r")]) == 2
    assert f"{bad}:4: at bogus: expected" in capsys.readouterr().err


def test_reference_key_never_reaches_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CONFORMANCE_REFERENCE_KEY", CANARY)
    assert main(["run", "--report-dir", str(tmp_path), "-k", "shape or framing", "--no-color"]) == 0
    captured = capsys.readouterr()
    for path in tmp_path.iterdir():
        assert CANARY not in path.read_text(), path
    assert CANARY not in captured.out + captured.err


def _wait_for_verdicts(proc: subprocess.Popen, count: int = 3) -> None:
    """Block until the run has printed `count` verdict marks: it is under way, not starting up."""
    assert proc.stdout is not None
    assert b"cost preview" in proc.stdout.readline()
    assert len(proc.stdout.read(count)) == count


def test_ctrl_c_leaves_partial_report(tmp_path: Path) -> None:
    proc = subprocess.Popen([*INTERRUPTIBLE_CONFORMANCE, "run", "--report-dir", str(tmp_path), "--no-color"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _wait_for_verdicts(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    report = _report(tmp_path)
    assert report["run"]["interrupted"] is True and report["summary"]["total"] >= 3


def test_sigterm_leaves_partial_report(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--report-dir", str(tmp_path), "--no-color"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _wait_for_verdicts(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert _report(tmp_path)["run"]["interrupted"] is True
