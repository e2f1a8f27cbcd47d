"""The pytest plugin: a contract file run by pytest reaches the runner's verdicts, id for id.

Each test starts pytest in a subprocess (`pytester.runpytest_subprocess`), so the plugin is
loaded as a user loads it, and the repo's own session never sees a contract item.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from conformance.cli import main as conformance_main
from conformance.suite.loader import DEFAULT_CONTRACT, SUITES_DIR
from conformance.suite.model import Contract
from conformance.verdicts import Status
from tests.conftest import run_checks

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "conformance.pytest_plugin")
CONTRACT = str(DEFAULT_CONTRACT)
_SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+?)(?: - .*)?$", re.MULTILINE)


def _names(output: str, outcome: str) -> Counter[str]:
    """Test names (the part after ``::``) with `outcome` in pytest's ``-rA`` short summary."""
    return Counter(node.split("::", 1)[1] for word, node in _SUMMARY_LINE.findall(output) if word == outcome)


def _collected(output: str) -> list[str]:
    return [line.split("::", 1)[1] for line in output.splitlines() if "::" in line]


def test_counts_and_ids_match_conformance_run(pytester: pytest.Pytester, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert conformance_main(["run", "--report-dir", str(tmp_path / "cli"), "-k", "chat_completions",
                             "--no-color"]) in (0, 1)
    capsys.readouterr()
    report = json.loads((tmp_path / "cli" / "report.json").read_text())
    expected = Counter(report["summary"])

    result = pytester.runpytest_subprocess(CONTRACT, "-k", "chat_completions", *PLUGIN, "-rA", "--strict-markers")

    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == expected["passed"]
    assert outcomes.get("failed", 0) == expected["failed"] + expected["xpassed"]
    assert outcomes.get("skipped", 0) == expected["skipped"]
    assert outcomes.get("errors", 0) == expected["error"]
    assert sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped", "errors", "xfailed")) == expected["total"]
    # Id for id: each runner result is the pytest item of the same name, with the same verdict
    # (skips are left out: pytest's summary lists them by reason, not by name).
    for word, status in (("PASSED", "passed"), ("FAILED", "failed"), ("ERROR", "error")):
        ids = Counter(r["id"] for r in report["results"] if r["status"] == status)
        assert _names(result.stdout.str(), word) == ids, word


def test_reference_fault_fails_exactly_the_temperature_cases(pytester: pytest.Pytester, contract: Contract) -> None:
    fault = "accept_out_of_range:temperature"
    expected = {r.id for r in run_checks(contract, "chat_completions", [fault]) if r.status is Status.FAILED}
    assert expected and all("temperature" in name for name in expected)

    result = pytester.runpytest_subprocess(CONTRACT, "-k", "chat_completions", "--reference-fault", fault,
                                           *PLUGIN, "-rf")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert set(_names(result.stdout.str(), "FAILED")) == expected
    # The failure shows the rule and the finding, not a traceback into the harness.
    output = result.stdout.str()
    assert "rule: Each documented parameter accepts its boundary values" in output
    assert "must be rejected with 400, but was accepted" in output
    assert "Traceback" not in output and "pytest_plugin.py" not in output


def test_markers_select_by_category_and_endpoint(pytester: pytest.Pytester, contract: Contract) -> None:
    expected = [r.id for r in run_checks(contract, "parameter_ranges")]

    by_category = pytester.runpytest_subprocess(CONTRACT, "-m", "ranges", "--collect-only", "--verbosity=-1",
                                                "--strict-markers", *PLUGIN)
    by_both = pytester.runpytest_subprocess(CONTRACT, "-m", "ranges and not chat_completions", "--collect-only",
                                            "--verbosity=-1", "--strict-markers", *PLUGIN)

    assert by_category.ret == pytest.ExitCode.OK
    assert _collected(by_category.stdout.str()) == expected
    others = _collected(by_both.stdout.str())
    assert others == [name for name in expected if "[chat_completions" not in name]
    assert others and len(others) < len(expected)


def test_only_contract_files_are_collected_and_collection_sends_nothing(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # The live target with no key: opening it would be a usage error, so exit code 0 proves
    # that --collect-only never opened it (and never spent a request).
    monkeypatch.delenv("EMPIRIOLABS_API_KEY", raising=False)
    result = pytester.runpytest_subprocess(str(SUITES_DIR), "--collect-only", "--verbosity=-1", "--target", "live", *PLUGIN)

    assert result.ret == pytest.ExitCode.OK
    files = {line.split("::", 1)[0] for line in result.stdout.lines if "::" in line}
    assert files == {"suites/gemma-4-e4b.yaml"}  # not suites/protocols/*.yaml, not suites/targets/*.yaml


def test_unreachable_target_is_one_usage_error(pytester: pytest.Pytester) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there

    result = pytester.runpytest_subprocess(CONTRACT, "--base-url", f"http://127.0.0.1:{port}/v1", *PLUGIN)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1 and "cannot reach the target" in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_each_verdict_maps_to_its_pytest_outcome(pytester: pytest.Pytester) -> None:
    # A copy of the suites with a conftest that registers one check per verdict.
    shutil.copytree(SUITES_DIR, pytester.path / "suites")
    pytester.makeconftest(textwrap.dedent('''
        from conformance.checks import CheckFailed, CheckSkipped, check
        from conformance.errors import TransportError

        @check(category="errors")
        async def zz_fails(probe):
            """Rule of the failing check."""
            raise CheckFailed("the answer was wrong")

        @check(category="errors")
        async def zz_skips(probe):
            """Rule of the skipping check."""
            raise CheckSkipped("not applicable here")

        @check(category="errors")
        async def zz_errs(probe):
            """Rule of the erring check."""
            raise TransportError("read-timeout", "no data for 60s")

        @check(category="errors")
        async def zz_passes(probe):
            """Rule of the passing check."""
    '''))

    result = pytester.runpytest_subprocess("suites/gemma-4-e4b.yaml", "-k", "zz_ and chat_completions", *PLUGIN,
                                           "-rA")

    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    result.stdout.fnmatch_lines(["*ERROR at call of zz_errs*", "read-timeout: no data for 60s",
                                 "rule: Rule of the erring check.",
                                 "*zz_fails*", "the answer was wrong", "rule: Rule of the failing check."])
    assert "not applicable here" in output
    assert "ERROR suites/gemma-4-e4b.yaml::zz_errs[chat_completions]" in output
    assert "Traceback" not in output
