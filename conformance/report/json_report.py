"""report.json: the complete, machine-readable record of a run."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from conformance.report._common import count, scrub, status_of
from conformance.secrets import redact
from conformance.verdicts import Result, RunInfo

SUMMARY_KEYS = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "inconclusive", "total")
# A sampled check's figures, in each result only where set: the samples drawn, the observed rate
# (or, for a latency percentile, its value in ms) and the interval its verdict came from (an
# unbounded end, too few samples for it, is null).
SAMPLED_KEYS = ("samples", "rate", "ci_low", "ci_high")


def render_json(info: RunInfo, results: list[Result], *, requests: dict[str, Any] | None = None) -> str:
    """`{"run": ..., "summary": ..., "requests": ..., "results": [...]}` with a fixed key order, indent 2.

    `requests` (when the run has it): how requests were sent, failures by kind, every retry.
    """
    counts = {status.value: n for status, n in count(results).items()}
    counts["total"] = len(results)
    document = {
        "run": asdict(info),
        # Spelled out rather than copied so the schema stays fixed if Status ever grows.
        "summary": {key: counts.get(key, 0) for key in SUMMARY_KEYS},
    }
    if requests is not None:
        document["requests"] = requests
    document["results"] = [_result(r) for r in results]
    # ensure_ascii=False so a key with non-ASCII characters is not \u-escaped past redact().
    text = json.dumps(scrub(document), indent=2, ensure_ascii=False, default=str)
    return redact(text + "\n")


def _result(r: Result) -> dict[str, Any]:
    out = {
        "id": r.id,
        "check": r.check,
        "endpoint": r.endpoint,
        "case": r.case,
        "status": status_of(r).value,
        "category": r.category,
        "rule": r.rule,
        "message": r.message,
        "request": r.request,
        "response": r.response,
        "timings": r.timings,
        "duration_ms": r.duration_ms,
    }
    if r.samples is not None:
        out.update({key: getattr(r, key) for key in SAMPLED_KEYS})
    return out
