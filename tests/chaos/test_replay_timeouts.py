"""`conformance replay` takes the request timeouts too: a silent server ends the replay, it does not hang it."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.chaos import ChaosServer
from conformance.cli import main
from conformance.replay import Expectation, FailureCase, save_failure


def test_replay_against_a_silent_server_times_out_with_the_kind(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    case = FailureCase(
        check="random_invalid_requests_rejected", endpoint="chat_completions", case="temperature",
        body={"model": "gemma-4-e4b", "messages": [{"role": "user", "content": "hi"}], "temperature": 3.0},
        stream=False, expect=Expectation.rejected(400, "temperature"),
        observed={"status": 200, "body": "{}", "error": None}, problems=["accepted"], contract="gemma-4-e4b")
    path = save_failure(case, tmp_path)
    with ChaosServer("slow_loris") as chaos:
        code = main(["replay", str(path), "--base-url", chaos.base_url, "--first-byte-timeout", "0.3"])
    captured = capsys.readouterr()
    assert code == 1 and "first-byte-timeout" in captured.out, captured.out + captured.err
    assert "Traceback" not in captured.err
