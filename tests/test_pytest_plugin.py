"""The pytest plugin: a contract file run by pytest reaches the runner's verdicts, id for id.

Each test starts pytest in a subprocess (`pytester.runpytest_subprocess`), so the plugin is
loaded as a user loads it, and the repo's own session never sees a contract item.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main as conformance_main
from conformance.generation.ranges import boundary_values
from conformance.runner import Plan, plan
from conformance.selection import compile_selection
from conformance.suite.loader import DEFAULT_CONTRACT, SUITES_DIR
from conformance.suite.model import Contract
from conformance.transport.client import Client
from conformance.verdicts import Result, Status
from tests.conftest import run_checks

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "conformance.pytest_plugin")
CONTRACT = str(DEFAULT_CONTRACT)
_SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+?)(?: - .*)?$", re.MULTILINE)


def _names(output: str, outcome: str) -> Counter[str]:
    """Test names (the part after ``::``) with `outcome` in pytest's ``-rA`` short summary."""
    return Counter(node.split("::", 1)[1] for word, node in _SUMMARY_LINE.findall(output) if word == outcome)


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
    assert outcomes.get("xfailed", 0) == expected["xfailed"]
    assert sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped", "errors", "xfailed")) == expected["total"]
    # Id for id: each runner result is the pytest item of the same name, with the same verdict
    # (skips are left out: pytest's summary lists them by reason, not by name).
    for word, status in (("PASSED", "passed"), ("FAILED", "failed"), ("ERROR", "error")):
        ids = Counter(r["id"] for r in report["results"] if r["status"] == status)
        assert _names(result.stdout.str(), word) == ids, word


def test_reference_fault_fails_exactly_the_temperature_cases(pytester: pytest.Pytester, contract: Contract) -> None:
    fault = "accept_out_of_range:temperature"
    out_of_range = {f"parameter_ranges[chat_completions-{b.id}]"
                    for b in boundary_values(contract.parameters["temperature"])
                    if not b.accept and isinstance(b.value, (int, float)) and not isinstance(b.value, bool)}

    result = pytester.runpytest_subprocess(CONTRACT, "-k", "chat_completions", "--reference-fault", fault,
                                           *PLUGIN, "-rf")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = set(_names(result.stdout.str(), "FAILED"))
    assert out_of_range and out_of_range <= failed
    # Nothing else is the fault's doing: any failure not about temperature fails on a clean
    # server as well (none, while the catalogue and the reference server agree).
    others = {name for name in failed if "temperature" not in name}
    if others:
        clean = run_checks(contract, " or ".join(sorted(others)))
        assert others <= {r.id for r in clean if r.status is Status.FAILED}
    # A failure shows the finding and the rule, not a traceback into the harness.
    output = result.stdout.str()
    assert "must be rejected with 400, but was accepted" in output
    assert "rule: Each documented parameter accepts its boundary values" in output
    assert "Traceback" not in output and "pytest_plugin.py" not in output


def test_markers_select_and_collection_sends_nothing(pytester: pytest.Pytester, contract: Contract,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Collected from the suites directory: protocol and target files are passed over. The live
    # target with no key would be a usage error if opened, so exit code 0 also proves that
    # --collect-only never opened it (and never spent a request).
    monkeypatch.delenv("EMPIRIOLABS_API_KEY", raising=False)
    result = pytester.runpytest_subprocess(str(SUITES_DIR), "-m", "ranges and not chat_completions",
                                           "--collect-only", "--verbosity=-1", "--strict-markers",
                                           "--target", "live", *PLUGIN)

    assert result.ret == pytest.ExitCode.OK
    nodes = [line for line in result.stdout.lines if "::" in line]
    files = {node.split("::", 1)[0] for node in nodes}
    assert "suites/gemma-4-e4b.yaml" in files
    assert not any(f.startswith(("suites/protocols/", "suites/targets/")) for f in files)
    nodes = [node for node in nodes if node.startswith("suites/gemma-4-e4b.yaml::")]
    expected = [_result_id(p.spec.name, p.endpoint, case) for p, cases in _plan(contract)
                if p.spec.category == "ranges" and p.endpoint != "chat_completions" for case in cases]
    assert expected and [node.split("::", 1)[1] for node in nodes] == expected


def _plan(contract: Contract) -> list[tuple[Plan, list[Any]]]:
    async def go() -> list[tuple[Plan, list[Any]]]:
        async with Client("http://unused.invalid/v1", None) as client:  # drawing up a plan sends nothing
            return plan(contract, client, compile_selection(None))
    return asyncio.run(go())


def _result_id(check: str, endpoint: str, case: Any) -> str:
    return Result(check=check, endpoint=endpoint, case=getattr(case, "id", "") or "", status=Status.PASSED).id


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
    # A copy of the suites with a conftest that registers one check per verdict, and a target
    # that expects two of them to diverge: one does (xfail), one does not (strict xpass).
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

        @check(category="errors")
        async def zz_known_failure(probe):
            """Rule of a check the target is known to fail."""
            raise CheckFailed("known to differ")

        @check(category="errors")
        async def zz_known_but_passes(probe):
            """Rule of a check the target was known to fail."""
    '''))
    target = pytester.path / "diverging.yaml"
    target.write_text(textwrap.dedent('''
        kind: target
        name: diverging
        server: reference
        expected_divergences:
          - {check: zz_known_failure, endpoint: chat_completions, reason: "a known difference"}
          - {check: zz_known_but_passes, endpoint: chat_completions, reason: "a fixed difference"}
    '''))

    result = pytester.runpytest_subprocess("suites/gemma-4-e4b.yaml", "-k", "zz_ and chat_completions",
                                           "--target", str(target), *PLUGIN, "-rA")

    result.assert_outcomes(passed=1, failed=2, skipped=1, errors=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    result.stdout.fnmatch_lines(["*ERROR at call of zz_errs*", "read-timeout: no data for 60s",
                                 "rule: Rule of the erring check."])
    result.stdout.fnmatch_lines(["*zz_fails*", "the answer was wrong", "rule: Rule of the failing check."])
    result.stdout.fnmatch_lines(["*zz_known_but_passes*", "expected divergence did not occur: a fixed difference"])
    assert "ERROR suites/gemma-4-e4b.yaml::zz_errs[chat_completions]" in output
    assert "SKIPPED [1] suites/gemma-4-e4b.yaml: not applicable here" in output
    assert "a known difference" in output
    assert "Traceback" not in output


def test_max_cost_refuses_a_session_whose_preview_exceeds_it(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(CONTRACT, "-k", "chat_completions", "--max-cost", "0.05", *PLUGIN)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "cost preview" in output and "exceeds --max-cost 0.05" in output
    assert "Traceback" not in output


def test_the_cost_is_previewed_and_counted(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(CONTRACT, "-k", "response_shape and chat_completions",
                                           "--max-cost", "100", *PLUGIN)

    assert result.ret == pytest.ExitCode.OK
    result.stdout.re_match_lines([r"conformance: gemma-4-e4b.yaml tier full, concurrency 8; cost preview: expected \d+ billed messages .*",
                                  r"conformance: gemma-4-e4b.yaml cost: [1-9]\d* billed messages = \d+\.\d\d USD"])
