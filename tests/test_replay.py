"""Saved failing cases and `conformance replay`: the file format, redaction, and re-sending a
case to a faulty and to a clean reference server (exit 1 while it fails, 0 once it holds)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.errors import SetupError
from conformance.replay import (
    DEFAULT_FAILURES_DIR,
    FAILURES_DIR_ENV,
    Expectation,
    FailureCase,
    failures_dir,
    load_failure,
    save_failure,
)
from conformance.secrets import Secret
from conformance.suite.model import Contract
from conformance.verdicts import Status
from tests.conftest import run_checks

CANARY = "sk-replay-canary-5f4e3d2c1b0a"


def _case(**changes: object) -> FailureCase:
    fields: dict = dict(
        check="random_invalid_requests_rejected", endpoint="chat_completions", case="temperature",
        body={"model": "gemma-4-e4b", "messages": [{"role": "user", "content": "hi"}], "temperature": 3.0,
              "max_tokens": 4},
        stream=False, expect=Expectation.rejected(400, "temperature"),
        observed={"status": 200, "body": "{}", "error": None}, problems=["accepted"], contract="gemma-4-e4b")
    fields.update(changes)
    return FailureCase(**fields)


def test_failures_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(FAILURES_DIR_ENV, raising=False)
    assert failures_dir() == DEFAULT_FAILURES_DIR == Path("reports/failures")
    monkeypatch.setenv(FAILURES_DIR_ENV, str(tmp_path))
    assert failures_dir() == tmp_path
    path = save_failure(_case())
    assert path.parent == tmp_path and path.name.startswith("random_invalid_requests_rejected-chat_completions-temperature-")


def test_a_saved_case_reads_back_the_same(tmp_path: Path) -> None:
    case = _case(stream=True, profile="ci")
    path = save_failure(case, tmp_path)
    back = load_failure(path)
    assert back.to_json() == case.to_json() and back.saved_at
    assert json.loads(path.read_text())["format"] == 1
    # The same failure found again lands in the same file instead of piling up.
    assert save_failure(_case(stream=True, profile="ci"), tmp_path) == path
    assert len(list(tmp_path.iterdir())) == 1


def test_keys_never_reach_the_file(tmp_path: Path) -> None:
    Secret(CANARY, "test")
    case = _case(observed={"status": 401, "body": f"bad key {CANARY}", "error": None},
                 problems=[f"rejected {CANARY}"])
    text = save_failure(case, tmp_path).read_text()
    assert CANARY not in text and "[REDACTED]" in text


@pytest.mark.parametrize("content,why", [
    ("{not json", "not JSON"),
    (json.dumps({"format": 1}), "missing check"),
    (json.dumps({**_case().to_json(), "format": 7}), "format 7 is not 1"),
    (json.dumps({**_case().to_json(), "expect": {"outcome": "maybe", "status": 400}}), "none of 'accepted'"),
    (json.dumps({**_case().to_json(), "expect": {"outcome": "conforms", "status": 200}}), "missing expect.schema"),
    (json.dumps({**_case().to_json(), "expect": {"outcome": "rejected", "status": 400}}), "must name the parameter"),
])
def test_a_bad_file_is_one_line_and_exit_2(content: str, why: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "case.json"
    path.write_text(content)
    with pytest.raises(SetupError, match=why):
        load_failure(path)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"conformance: error: {path}: ") and why in err


def test_a_missing_file_or_a_foreign_case_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nothing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = save_failure(_case(contract="another-model"), tmp_path)
    assert main(["replay", str(path)]) == 2
    assert "found against contract 'another-model'" in capsys.readouterr().err


def _found_case(contract: Contract, select: str, fault: str, directory: Path,
                monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run one property check against the reference server with `fault` on: the file it saves."""
    monkeypatch.setenv(FAILURES_DIR_ENV, str(directory))
    results = run_checks(contract, select, faults=[fault])
    assert [r.status for r in results] == [Status.FAILED]
    (saved,) = directory.glob("*.json")
    return saved


@pytest.mark.slow
def test_replay_of_a_found_case_fails_on_the_faulty_server_and_holds_on_a_clean_one(
        contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fault = "accept_out_of_range:temperature"
    saved = _found_case(contract, "random_invalid and chat_completions-temperature", fault, tmp_path, monkeypatch)

    assert main(["replay", str(saved), "--reference-fault", fault]) == 1
    out = capsys.readouterr().out
    assert "replay random_invalid_requests_rejected[chat_completions-temperature] -> POST http://127.0.0.1:" in out
    assert "expected: rejected with status 400, the error naming 'temperature'" in out
    assert "status: 200" in out and "verdict: still fails: accepted (status 200)" in out

    assert main(["replay", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "status: 400" in out and '"param": "temperature"' in out and "verdict: holds now" in out


@pytest.mark.slow
def test_replay_of_a_valid_request_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"model": "gemma-4-e4b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3,
            "stop": ["a"], "logprobs": True, "stream": True}
    path = save_failure(_case(check="random_valid_requests_accepted", case="", body=body, stream=True,
                              expect=Expectation.accepted()), tmp_path)
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "replay random_valid_requests_accepted[chat_completions] ->" in out and "data: " in out
    # An unreachable target is a setup error, not a verdict on the case.
    assert main(["replay", str(path), "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "cannot reach the target" in capsys.readouterr().err


@pytest.mark.slow
def test_a_structured_output_case_is_found_saved_and_replayed(
        contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fault = "structured_invalid"
    saved = _found_case(contract, "structured_output_generated and messages", fault, tmp_path, monkeypatch)
    case = load_failure(saved)
    assert case.expect.outcome == "conforms" and case.expect.schema and case.expect.schema["type"] == "object"

    assert main(["replay", str(saved), "--reference-fault", fault]) == 1
    out = capsys.readouterr().out
    assert "the answer JSON valid against the requested schema" in out and "verdict: still fails: " in out
    assert main(["replay", str(saved)]) == 0
    assert "verdict: holds now" in capsys.readouterr().out
