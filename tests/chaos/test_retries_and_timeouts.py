"""Bounded retries that honour Retry-After, each one recorded; timeouts from the target profile."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.chaos import ChaosServer, Fault
from conformance.cli import main
from tests.chaos.conftest import RUN_SELECTION, bench, no_traceback, report, run


@pytest.mark.parametrize("mode", ["http_429", "http_503"])
def test_run_retries_and_records_every_retry(mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChaosServer(Fault(mode, skip=1, times=2, retry_after="0.05")) as chaos:
        code = run(chaos.base_url, tmp_path, "--retries", "2")
    captured = capsys.readouterr()
    no_traceback(captured.err)
    assert code == 0, captured.out
    requests = report(tmp_path)["requests"]
    kind = mode.replace("_", "-")
    assert requests["retried_by_kind"] == {kind: 2} and requests["failures_by_kind"] == {}
    assert requests["attempts"] == requests["requests"] + 2 == len(chaos.seen)
    first = requests["retries"][0]
    assert first["status"] == int(mode[-3:]) and first["retry_after"] == "0.05" and first["wait_s"] == 0.05
    assert first["for"].startswith("response_shape[chat_completions")  # which check the request was for
    assert "retries: 2" in captured.out and "retries: 2" in (tmp_path / "summary.md").read_text()


def test_run_gives_up_after_its_retries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChaosServer(Fault("http_429", skip=1, retry_after="0")) as chaos:
        assert run(chaos.base_url, tmp_path, "--retries", "1") == 1
    requests = report(tmp_path)["requests"]
    assert requests["failures_by_kind"] == {"http-429": 3} and len(requests["retries"]) == 3
    assert len(chaos.seen) == 1 + 3 * 2


def test_bench_retries_are_in_the_samples_and_the_report(scenario: Path, tmp_path: Path) -> None:
    with ChaosServer(Fault("http_429", times=2, retry_after="0.05")) as chaos:
        assert bench(scenario, chaos.base_url, tmp_path, "--retries", "3") == 0
    rep = report(tmp_path)
    assert rep["retries"]["retries_by_kind"] == {"http-429": 2}
    assert rep["steps"][0]["errors"]["by_kind"] == {}
    assert rep["run"]["requests"]["retries"] == 3
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    retried = [s["rt"] for s in samples if "rt" in s]
    assert sum(len(r) for r in retried) == 2 and retried[0][0] == [429, "", 0.05, "0.05"]


def test_profile_timeouts_apply_and_the_command_line_overrides_them(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name, extra in [("profile", []), ("cli", ["--first-byte-timeout", "0.5"])]:
        with ChaosServer(Fault("slow_loris", skip=1)) as chaos:
            profile = tmp_path / f"{name}.yaml"
            profile.write_text(f"kind: target\nname: chaos\nserver: external\nbase_url: {chaos.base_url}\n"
                               "timeouts: {connect: 2, first_byte: 0.6, idle: 0.6, total: 5}\n")
            assert main(["run", "--target", str(profile), "--no-color", "-k", RUN_SELECTION,
                         "--report-dir", str(tmp_path / name), *extra]) == 1
    capsys.readouterr()
    from_profile = report(tmp_path / "profile")["requests"]
    assert from_profile["settings"]["timeouts_s"] == {"connect": 2, "first_byte": 0.6, "idle": 0.6, "total": 5}
    assert from_profile["failures_by_kind"] == {"first-byte-timeout": 3}
    assert report(tmp_path / "cli")["requests"]["settings"]["timeouts_s"]["first_byte"] == 0.5


def test_bench_worker_processes_get_the_timeouts_too(scenario: Path, tmp_path: Path) -> None:
    with ChaosServer("stall") as chaos:
        assert bench(scenario, chaos.base_url, tmp_path, "--workers", "2", "--idle-timeout", "0.4") == 0
    rep = report(tmp_path)
    assert set(rep["steps"][0]["errors"]["by_kind"]) == {"idle-timeout"}
    assert rep["run"]["requests"]["timeouts_s"]["idle"] == 0.4
