"""One session: every entry point resolves the same settings from the same profile and flags."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import conformance.bench.runner as bench_runner
import conformance.session as session_module
from conformance.cli import main
from conformance.errors import SetupError
from conformance.session import SessionOptions, resolve

pytest_plugins = ["pytester"]


class _Resolved(BaseException):
    """Raised by the patched `resolve`: the entry point got as far as its settings."""


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    real = session_module.resolve

    def capture(options: SessionOptions) -> session_module.SessionSettings:
        seen.append(real(options).describe())
        raise _Resolved()

    monkeypatch.setattr(session_module, "resolve", capture)
    monkeypatch.setattr(bench_runner, "resolve", capture)
    return seen


def test_run_pytest_replay_and_bench_resolve_identical_settings(
        captured: list[dict[str, Any]], tmp_path: Path, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-session-test\n")
    flags = ["--target", "llamacpp", "--first-byte-timeout", "30", "--retries", "2", "--api-key-file", str(key_file)]
    saved = tmp_path / "case.json"
    saved.write_text("{}")
    monkeypatch.setattr("conformance.replay.load_failure", lambda path: (_ for _ in ()).throw(AssertionError))

    for argv in (["run", *flags], ["replay", str(saved), *flags], ["bench", "chat-stream", *flags]):
        with pytest.raises(_Resolved):
            main(argv)
    config = pytester.parseconfigure("-p", "conformance.pytest_plugin", *flags)
    from conformance.pytest_plugin import _TARGETS
    with pytest.raises(_Resolved):
        config.stash[_TARGETS].settings()

    assert len(captured) == 4
    assert all(c == captured[0] for c in captured), captured
    first = captured[0]
    # The profile's own values where no flag overrides them, the flag's where one does.
    assert first["requests"]["timeouts_s"] == {"connect": 10.0, "first_byte": 30.0, "idle": 120.0, "total": 300.0}
    assert first["requests"]["retries"] == 2
    assert (first["tier"], first["hypothesis_profile"], first["concurrency"]) == ("standard", "live", 1)
    assert first["gate_latency"] is False and first["rates"] > 0 and first["divergences"] > 0
    assert first["api_key_file"] == str(key_file)


def test_precedence_flag_then_profile_then_default() -> None:
    reference = resolve(SessionOptions())
    assert (reference.tier.name, reference.hypothesis_profile, reference.concurrency) == ("full", "ci", 8)
    live = resolve(SessionOptions(target="live"))
    assert (live.tier.name, live.hypothesis_profile, live.concurrency) == ("standard", "live", 4)
    chosen = resolve(SessionOptions(target="live", tier="smoke", concurrency=2, hypothesis_profile="thorough"))
    assert (chosen.tier.name, chosen.hypothesis_profile, chosen.concurrency) == ("smoke", "thorough", 2)
    assert chosen.policy().sample_cap == 1


def test_base_url_follows_nothing_of_the_target_file() -> None:
    external = resolve(SessionOptions(target="llamacpp", base_url="http://127.0.0.1:9/v1"))
    assert external.target_label == "external"
    assert (external.divergences, external.rates, external.gate_latency) == ((), (), True)
    assert (external.tier.name, external.concurrency) == ("full", 1)
    assert external.client.timeouts.first_byte == 60.0  # the default, not llama.cpp's 240


def test_bad_values_are_one_line_setup_errors() -> None:
    with pytest.raises(SetupError, match="tier 'gold'"):
        resolve(SessionOptions(tier="gold"))
    with pytest.raises(SetupError, match="--concurrency"):
        resolve(SessionOptions(concurrency=0))


def test_a_target_file_sets_concurrency_and_the_per_endpoint_limit(tmp_path: Path) -> None:
    target = tmp_path / "busy.yaml"
    target.write_text("kind: target\nname: busy\nserver: reference\nconcurrency: 6\nper_endpoint: 2\ntier: smoke\n")
    settings = resolve(SessionOptions(target=str(target)))
    policy = settings.policy()
    assert (policy.concurrency, policy.per_endpoint, policy.sample_cap) == (6, 2, 1)
    assert resolve(SessionOptions(target=str(target), concurrency=3)).policy().concurrency == 3
