"""Every report knows `inconclusive` and shows a sampled result's interval."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from conformance.report.json_report import render_json
from conformance.report.junit import render_junit
from conformance.report.markdown import render_markdown
from conformance.report.matrix import load
from conformance.report.matrix import render_markdown as render_matrix
from conformance.report.terminal import render_terminal
from conformance.verdicts import Status
from tests.report.conftest import make_info, make_result

MESSAGE = "0/3 passed (rate 0.00, 95 % CI 0.00–0.71; required ≥ 0.30): no tool call"


def _results():
    return [
        make_result("tool_choice_honoured", "chat", "auto-stream", Status.INCONCLUSIVE, MESSAGE,
                    samples=3, rate=0.0, ci_low=0.0, ci_high=0.7076),
        make_result("tool_choice_honoured", "chat", "none-stream", Status.PASSED, "1/1 passed",
                    samples=1, rate=1.0, ci_low=0.025, ci_high=1.0),
        make_result("latency_slo", "chat", "", Status.INCONCLUSIVE, "ttft_ms p95 = 90 ms over 5 requests",
                    samples=5, rate=90.0, ci_low=80.0, ci_high=float("inf")),
        make_result("usage_present", "chat"),
    ]


def test_json_counts_inconclusive_and_carries_the_interval() -> None:
    doc = json.loads(render_json(make_info(), _results()))
    assert doc["summary"]["inconclusive"] == 2 and doc["summary"]["total"] == 4
    unsure, sampled, latency, plain = doc["results"]
    assert unsure["status"] == "inconclusive"
    assert (unsure["samples"], unsure["rate"], unsure["ci_low"], unsure["ci_high"]) == (3, 0.0, 0.0, 0.7076)
    assert sampled["samples"] == 1 and sampled["ci_low"] == 0.025
    assert latency["ci_high"] is None  # no upper bound yet: JSON has no infinity
    assert "samples" not in plain and "ci_low" not in plain


def test_junit_skips_inconclusive_unless_strict() -> None:
    root = ET.fromstring(render_junit(make_info(), _results()))
    suite = root.find("testsuite")
    assert (suite.get("skipped"), suite.get("failures")) == ("2", "0")
    case = suite.find("testcase[@name='tool_choice_honoured[auto-stream]']")
    skipped = case.find("skipped")
    assert skipped.get("type") == "inconclusive" and "CI 0.00–0.71" in skipped.get("message")
    props = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert props == {"samples": "3", "rate": "0", "ci_low": "0", "ci_high": "0.7076"}
    strict = ET.fromstring(render_junit(make_info(settings={"strict": True}), _results())).find("testsuite")
    assert (strict.get("skipped"), strict.get("failures")) == ("0", "2")
    failure = strict.find("testcase[@name='tool_choice_honoured[auto-stream]']/failure")
    assert failure.get("type") == "inconclusive"


def test_markdown_lists_inconclusive_with_its_interval() -> None:
    text = render_markdown(make_info(), _results())
    assert "2 inconclusive" in text and "## Inconclusive" in text and "CI 0.00–0.71" in text
    assert "❔" in text


def test_terminal_shows_inconclusive_and_is_not_green() -> None:
    text = render_terminal(make_info(), _results(), color=False)
    assert "?? 1/2" in text and "INCONCLUSIVE tool_choice_honoured[chat-auto-stream]: 0/3 passed" in text
    assert text.splitlines()[-1].startswith("== 2 passed, 2 inconclusive")
    colored = render_terminal(make_info(), _results(), color=True)
    assert "\x1b[1;32m==" not in colored  # not the green summary line


def test_matrix_knows_inconclusive(tmp_path) -> None:
    path = tmp_path / "report.json"
    path.write_text(render_json(make_info(), _results()))
    matrix = load([path])
    cell = matrix.cells[("tool_choice_honoured", "chat", "local-stub")]
    assert cell.verdict == "inconclusive" and "❔ inconclusive 1/2" == cell.label()
    assert "CI 0.00–0.71" in render_matrix(matrix)
