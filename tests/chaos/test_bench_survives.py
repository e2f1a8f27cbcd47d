"""`conformance bench` against every chaos mode: each failed request counted by its kind in the
report and the raw samples, the run finished and reported, no traceback, no hang."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.chaos import UNRESOLVABLE_URL, ChaosServer, Fault, closed_port_url
from tests.chaos.conftest import FAULT_TIMEOUTS, SERVER_FAULTS, bench, no_traceback, report


def _assert_reported(out: Path, kind: str, err: str) -> None:
    no_traceback(err)
    rep = report(out)
    assert rep["steps"][0]["errors"]["by_kind"].get(kind), rep["steps"][0]["errors"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    requests = [s for s in samples if "type" not in s]
    assert requests and all(s.get("err") == kind for s in requests), requests
    for name in ("report.md", "report.html"):
        assert (out / name).stat().st_size > 0


@pytest.mark.parametrize("mode", SERVER_FAULTS)
def test_bench_counts_the_fault_and_finishes(mode: str, scenario: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with ChaosServer(mode) as chaos:
        code = bench(scenario, chaos.base_url, tmp_path / "out", *FAULT_TIMEOUTS.get(mode, []))
    assert code == 0
    _assert_reported(tmp_path / "out", SERVER_FAULTS[mode], capsys.readouterr().err)


@pytest.mark.parametrize("name,kind", [("refused", "connect-refused"), ("dns", "dns"), ("tls", "tls")])
def test_bench_against_no_server_counts_the_kind(name: str, kind: str, scenario: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    if name == "tls":
        with ChaosServer(tls=True) as chaos:
            code = bench(scenario, chaos.base_url, tmp_path / "out")
    else:
        code = bench(scenario, closed_port_url() if name == "refused" else UNRESOLVABLE_URL, tmp_path / "out")
    assert code == 0
    _assert_reported(tmp_path / "out", kind, capsys.readouterr().err)
