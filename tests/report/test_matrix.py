"""The conformance matrix across targets, from report.json files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.errors import SetupError
from conformance.report.matrix import load, render_html, render_markdown


def _report(path: Path, target: str, results: list[tuple[str, str, str, str, str]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    data = {"run": {"target": target}, "results": [
        {"check": c, "endpoint": e, "case": k, "status": s, "message": m} for c, e, k, s, m in results]}
    (path / "report.json").write_text(json.dumps(data))
    return path / "report.json"


def test_cells_summarise_cases_and_keep_reasons(tmp_path: Path) -> None:
    ref = _report(tmp_path / "a", "reference", [("parameter_ranges", "messages", "t=2", "passed", ""),
                                                 ("parameter_ranges", "messages", "t=3", "passed", "")])
    lc = _report(tmp_path / "b", "llamacpp", [
        ("parameter_ranges", "messages", "t=2", "passed", ""),
        ("parameter_ranges", "messages", "t=3", "xfailed", "expected divergence (clamps): accepted"),
        ("stream_framing", "messages", "", "skipped", "not offered")])
    m = load([ref, lc])
    assert m.targets == ["reference", "llamacpp"]
    assert m.cells[("parameter_ranges", "messages", "reference")].label() == "✅ passed 2"
    assert m.cells[("parameter_ranges", "messages", "llamacpp")].label() == "🔸 expected divergence 1/2"
    md = render_markdown(m)
    assert "| `stream_framing` | — | ⏭️ skipped |" in md
    assert "clamps" in md and "not offered" in md
    page = render_html(m)
    assert page.startswith("<!doctype html>") and 'class="xfailed"' in page and "clamps" in page


def test_not_a_report_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text("{}")
    with pytest.raises(SetupError, match="not a conformance report.json"):
        load([bad])


def test_cli_writes_both_files(tmp_path: Path) -> None:
    a = _report(tmp_path / "a", "reference", [("response_shape", "responses", "", "passed", "")])
    assert main(["matrix", str(a.parent), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m.md").exists() and (tmp_path / "m.html").exists()
