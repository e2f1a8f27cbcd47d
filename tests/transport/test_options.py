"""Request options: CLI beats the target profile beats the defaults; bad values are usage errors."""
from __future__ import annotations

import pytest

from conformance.cli import _parser
from conformance.transport.client import Timeouts
from conformance.transport.options import settings_from


def test_cli_beats_profile_beats_default() -> None:
    args = _parser().parse_args(["run", "--idle-timeout", "3", "--retries", "2"])
    settings = settings_from(args, {"idle": 5.0, "total": 9.0})
    assert settings.timeouts == Timeouts(connect=Timeouts().connect, first_byte=Timeouts().first_byte, idle=3.0,
                                         total=9.0)
    assert settings.retry.retries == 2 and settings.verify_tls
    assert settings_from(_parser().parse_args(["run", "--insecure"])).verify_tls is False


@pytest.mark.parametrize("argv", [["--idle-timeout", "soon"], ["--total-timeout", "0"], ["--retries", "-1"],
                                  ["--retries", "99"]])
def test_bad_values_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["run"], ["replay", "case.json"], ["bench", "smoke"]):
        with pytest.raises(SystemExit) as info:
            _parser().parse_args([*command, *argv])
        assert info.value.code == 2
    assert "expected" in capsys.readouterr().err
