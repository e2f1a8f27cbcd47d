"""report.json: fixed shape and key order, summary counts, and JSON that any parser accepts."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone

from conformance.report.json_report import render_json
from conformance.verdicts import Status

from .conftest import make_result

RESULT_KEYS = [
    "id", "check", "endpoint", "case", "status", "category", "rule",
    "message", "request", "response", "timings", "duration_ms",
]


def strict_loads(text):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def test_top_level_shape_and_summary(info, results):
    doc = strict_loads(render_json(info, results))
    assert list(doc) == ["run", "summary", "results"]
    assert doc["summary"] == {
        "passed": 12, "failed": 1, "skipped": 1, "xfailed": 1, "xpassed": 1, "error": 1, "inconclusive": 0,
        "total": 17,
    }
    assert list(doc["summary"]) == ["passed", "failed", "skipped", "xfailed", "xpassed", "error", "inconclusive",
                                    "total"]


def test_run_fields(info, results):
    info.assumptions = [{"where": "contract.yaml:12", "text": "usage is reported"}]
    info.interrupted = True
    run = strict_loads(render_json(info, results))["run"]
    assert list(run) == [
        "started_at", "contract", "model", "target", "base_url", "suite_file",
        "selection", "finished_at", "interrupted", "aborted", "assumptions", "cost", "settings", "throttling",
    ]
    assert run["contract"] == "openai-chat"
    assert run["interrupted"] is True
    assert run["assumptions"] == [{"where": "contract.yaml:12", "text": "usage is reported"}]


def test_result_fields_in_order(info, results):
    doc = strict_loads(render_json(info, results))
    assert len(doc["results"]) == 17
    failed = next(r for r in doc["results"] if r["status"] == "failed")
    assert list(failed) == RESULT_KEYS
    assert failed == {
        "id": "usage_present[chat-c12]",
        "check": "usage_present",
        "endpoint": "chat",
        "case": "c12",
        "status": "failed",
        "category": "usage",
        "rule": "Every response reports usage",
        "message": "usage.total_tokens missing",
        "request": {"model": "gpt-test"},
        "response": {"usage": None},
        "timings": {},
        "duration_ms": 25.0,
    }


def test_results_keep_input_order(info, results):
    doc = strict_loads(render_json(info, results))
    assert [r["id"] for r in doc["results"]] == [r.id for r in results]


def test_rendering_is_deterministic(info, results):
    assert render_json(info, results) == render_json(info, results)


def test_indent_two(info):
    text = render_json(info, [make_result()])
    assert '\n  "run": {' in text
    assert text.endswith("}\n")


def test_odd_values_become_json(info):
    odd = make_result(
        status=Status.ERROR,
        request={"when": datetime(2026, 1, 2, tzinfo=timezone.utc), "raw": b"\x00\x01", ("a", 1): "tuple key"},
        response={"tags": {"b", "a"}, "pair": (1, 2), "nan": math.nan},
        timings={"ttfb_ms": math.inf, "total_ms": None},
    )
    doc = strict_loads(render_json(info, [odd]))
    result = doc["results"][0]
    assert result["request"]["when"].startswith("2026-01-02")
    assert result["request"]["raw"] == str(b"\x00\x01")
    assert result["request"]["('a', 1)"] == "tuple key"
    assert result["response"] == {"tags": ["a", "b"], "pair": [1, 2], "nan": None}
    assert result["timings"] == {"ttfb_ms": None, "total_ms": None}


def test_non_ascii_kept_readable(info):
    text = render_json(info, [make_result(message="Größe → 日本")])
    assert "Größe → 日本" in text


def test_empty_run(info):
    doc = strict_loads(render_json(info, []))
    assert doc["results"] == []
    assert doc["summary"]["total"] == 0
