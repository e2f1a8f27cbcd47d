"""A canary key, used for real, appears in nothing the harness writes or prints, and never
travels to a host other than the target's."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from conformance.chaos import ChaosServer, Fault
from conformance.cli import main
from conformance.replay import Expectation, FailureCase, save_failure
from conformance.secrets import Secret
from conformance.shapes import exchange_shape
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.transport.client import Client
from tests.chaos.conftest import bench, run

CANARY = "sk-canary-7f3e9d1c5b2a40861735"


def _exchange_with_a_bad_key(base_url: str):
    """A key no header may carry: the HTTP library's error quotes the header, key included."""
    chat = load_contract(DEFAULT_CONTRACT).endpoints["chat_completions"]

    async def go():
        async with Client(base_url, Secret(CANARY + "\n", "test")) as client:
            return await client.send(chat, {"model": "m", "messages": []})

    return asyncio.run(go())


def test_canary_key_leaks_nowhere(tmp_path: Path, scenario: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CANARY_KEY", CANARY)
    monkeypatch.setenv("CANARY_KEY_BROKEN", CANARY + "\nrest")
    key_file = tmp_path / "secret" / "key.txt"
    key_file.parent.mkdir()
    key_file.write_text(CANARY + "\n")
    out = tmp_path / "out"

    with ChaosServer() as elsewhere, ChaosServer(Fault("redirect", skip=1, redirect_to=elsewhere.origin)) as target:
        assert run(target.base_url, out / "run", "--api-key-env", "CANARY_KEY") == 1
        assert run(target.base_url, out / "broken", "--api-key-env", "CANARY_KEY_BROKEN") == 2
        exchange = _exchange_with_a_bad_key(target.base_url)
    with ChaosServer("reset") as bench_target:
        assert bench(scenario, bench_target.base_url, out / "bench", "--api-key-file", str(key_file)) == 0
    assert main(["matrix", str(out / "run"), "--out", str(out / "matrix")]) == 0

    # The target got the key; the host it redirected to never saw it (nor any request).
    assert target.seen[0].headers["authorization"] == f"Bearer {CANARY}"
    assert bench_target.seen and all(s.carried_key for s in bench_target.seen)
    assert not any(s.carried_key for s in elsewhere.seen)
    assert "redirect" in json.loads((out / "run" / "report.json").read_text())["requests"]["failures_by_kind"]

    written = sorted(p for p in out.rglob("*") if p.is_file())
    names = {p.name for p in written}
    assert {"report.json", "junit.xml", "summary.md", "samples.jsonl", "report.html", "report.md",
            "matrix.html"} <= names, names
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path
    assert exchange.error is not None and CANARY not in str(exchange.error) and CANARY not in repr(exchange.error)
    assert CANARY not in json.dumps(exchange_shape(exchange), default=str)
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err + caplog.text
    assert "[REDACTED]" in captured.err  # the broken key's error line was there, and scrubbed


def test_tls_is_verified_by_default_and_insecure_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChaosServer(tls=True) as chaos:
        assert run(chaos.base_url, tmp_path / "strict") == 2
        assert "tls" in capsys.readouterr().err
        assert run(chaos.base_url, tmp_path / "insecure", "--insecure") == 0
    out = capsys.readouterr().out
    assert "TLS verification: OFF" in out
    report = json.loads((tmp_path / "insecure" / "report.json").read_text())
    assert report["requests"]["settings"]["tls_verify"] is False
    assert "TLS verification OFF" in (tmp_path / "insecure" / "summary.md").read_text()


def test_api_key_file_is_read_and_its_errors_name_the_file_only(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(CANARY + "\n")
    with ChaosServer() as chaos:
        assert run(chaos.base_url, tmp_path / "r", "--api-key-file", str(key_file)) == 0
    assert chaos.seen[0].headers["authorization"] == f"Bearer {CANARY}"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert run("http://127.0.0.1:9/v1", tmp_path / "e", "--api-key-file", str(empty)) == 2
    assert assert_one_line(capsys.readouterr().err, f"the file {empty} is empty")
    assert run("http://127.0.0.1:9/v1", tmp_path / "m", "--api-key-file", str(tmp_path / "nope")) == 2
    assert assert_one_line(capsys.readouterr().err, "cannot read the API key file")


def assert_one_line(err: str, needle: str) -> bool:
    lines = [line for line in err.splitlines() if line.startswith("conformance: error:")]
    return len(lines) == 1 and needle in lines[0]


def test_no_flag_takes_a_key_value() -> None:
    from conformance.cli import _parser

    for command in (["run"], ["replay", "f.json"], ["bench", "smoke"]):
        with pytest.raises(SystemExit):
            _parser().parse_args([*command, "--api-key", CANARY])


def test_a_key_given_as_the_variable_name_is_refused_without_echoing_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", CANARY,
                 "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a key" in err and CANARY not in err


def test_replay_reads_the_key_from_a_file_too(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(CANARY + "\n")
    case = save_failure(FailureCase(
        check="random_valid_requests_accepted", endpoint="chat_completions", case="",
        body={"model": "gemma-4-e4b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        stream=False, expect=Expectation.accepted(), contract="gemma-4-e4b"), tmp_path / "cases")
    with ChaosServer() as chaos:
        assert main(["replay", str(case), "--base-url", chaos.base_url, "--api-key-file", str(key_file)]) == 0
    assert chaos.seen[0].headers["authorization"] == f"Bearer {CANARY}"
