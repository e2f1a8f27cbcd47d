"""`conformance run` against every chaos mode: a finding with its kind, every selected check
reported, the three reports written, no traceback, no hang."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.chaos import UNRESOLVABLE_URL, ChaosServer, Fault, closed_port_url
from tests.chaos.conftest import FAULT_TIMEOUTS, SERVER_FAULTS, no_traceback, report, run


@pytest.mark.parametrize("mode", SERVER_FAULTS)
def test_run_reports_the_fault_and_goes_on(mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ChaosServer(Fault(mode, skip=1)) as chaos:  # the preflight request gets through
        code = run(chaos.base_url, tmp_path, *FAULT_TIMEOUTS.get(mode, []))
    captured = capsys.readouterr()
    no_traceback(captured.err)
    assert code == 1, captured.out + captured.err
    rep = report(tmp_path)
    assert rep["summary"]["total"] == 3 and rep["summary"]["failed"] + rep["summary"]["error"] == 3
    assert SERVER_FAULTS[mode] in rep["requests"]["failures_by_kind"], rep["requests"]
    assert rep["requests"]["requests"] == len(chaos.seen)
    assert (tmp_path / "junit.xml").exists()
    assert SERVER_FAULTS[mode] in (tmp_path / "summary.md").read_text()
    assert f"{SERVER_FAULTS[mode]} ×" in captured.out


@pytest.mark.parametrize("name,kind", [("refused", "connect-refused"), ("dns", "dns"), ("tls", "tls")])
def test_run_against_no_server_is_one_line_with_the_kind(name: str, kind: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    chaos = ChaosServer(tls=True) if name == "tls" else None
    url = {"refused": closed_port_url, "dns": lambda: UNRESOLVABLE_URL}.get(name, lambda: "")()
    if chaos is not None:
        with chaos:
            code = run(chaos.base_url, tmp_path)
    else:
        code = run(url, tmp_path)
    err = capsys.readouterr().err
    no_traceback(err)
    assert code == 2 and len(err.strip().splitlines()) == 1 and kind in err, err
    rep = report(tmp_path)
    assert kind in rep["run"]["aborted"] and rep["requests"]["failures_by_kind"] == {kind: 1}
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "summary.md").exists()
