"""`--baseline FILE`: compare a run with a saved one, metric by metric, within tolerances.

A baseline is a saved report.json (or the raw-sample file it came from). Steps are matched by
label (``concurrency 64``, ``poisson 50/s``). Each compared metric has a direction — latency
and error rate must not rise, throughput and goodput must not fall — and a tolerance: a
relative part of the baseline value plus an absolute slack, in the metric's unit. A change
beyond it in the bad direction is a regression; the run then exits 1.

Tolerances come from the scenario's ``baseline:`` mapping (metric → relative number, or
``{relative, absolute}``), over the defaults below; a metric mapped to ``null`` is not
compared. Metric names: ``<distribution>.<stat>`` (``ttft_ms.p99``, ``itl_ms.mean``) or one of
``request_per_s``, ``output_tokens_per_s``, ``goodput_per_s``, ``goodput_fraction``,
``error_rate``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.errors import SetupError

DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {
    "ttft_ms.p50": {"relative": 0.10, "absolute": 1.0},
    "ttft_ms.p99": {"relative": 0.25, "absolute": 2.0},
    "ttfc_ms.p50": {"relative": 0.10, "absolute": 1.0},
    "itl_ms.p50": {"relative": 0.10, "absolute": 0.5},
    "itl_ms.p99": {"relative": 0.25, "absolute": 2.0},
    "tpot_ms.p50": {"relative": 0.10, "absolute": 0.5},
    "e2e_ms.p50": {"relative": 0.10, "absolute": 2.0},
    "e2e_ms.p99": {"relative": 0.25, "absolute": 5.0},
    "request_per_s": {"relative": 0.10, "absolute": 0.0},
    "output_tokens_per_s": {"relative": 0.10, "absolute": 0.0},
    "goodput_fraction": {"relative": 0.0, "absolute": 0.02},
    "error_rate": {"relative": 0.0, "absolute": 0.01},
}
HIGHER_IS_BETTER = {"request_per_s", "output_tokens_per_s", "goodput_per_s", "goodput_fraction"}


def load_baseline(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise SetupError(f"--baseline {path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        if first.startswith('{"type":"run"'):  # a raw-sample file: recompute its figures
            from conformance.bench.runner import analyse
            report = analyse(path)
        else:
            report = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise SetupError(f"--baseline {path}: not a bench report.json or raw-sample file ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("steps"), list):
        raise SetupError(f"--baseline {path}: not a bench report (no steps)")
    report.setdefault("_file", str(path))
    return report


def metric_value(step: dict[str, Any], name: str) -> float | None:
    if name == "request_per_s":
        return step["throughput"]["request_per_s"]
    if name == "output_tokens_per_s":
        return step["throughput"]["output_tokens_per_s"]
    if name == "goodput_per_s":
        return step["goodput"]["request_per_s"]
    if name == "goodput_fraction":
        return step["goodput"]["fraction"]
    if name == "error_rate":
        return step["errors"]["rate"]
    dist, _, stat = name.partition(".")
    return (step["metrics"].get(dist) or {}).get(stat or "p50")


def tolerances(overrides: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    merged = {k: dict(v) for k, v in DEFAULT_TOLERANCES.items()}
    for name, spec in (overrides or {}).items():
        if spec is None:
            merged.pop(name, None)
        elif isinstance(spec, (int, float)):
            merged[name] = {"relative": float(spec), "absolute": 0.0}
        else:
            merged[name] = {"relative": float(spec.get("relative", 0.0)), "absolute": float(spec.get("absolute", 0.0))}
    return merged


def compare(baseline: dict[str, Any], current: dict[str, Any], overrides: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    rules = tolerances(overrides)
    base_steps = {s["label"]: s for s in baseline["steps"]}
    rows, regressions, unmatched = [], [], []
    for step in current["steps"]:
        base = base_steps.get(step["label"])
        if base is None:
            unmatched.append(step["label"])
            continue
        for name, tol in rules.items():
            b, c = metric_value(base, name), metric_value(step, name)
            if b is None or c is None:
                continue
            slack = abs(b) * tol["relative"] + tol["absolute"]
            higher = name in HIGHER_IS_BETTER
            limit = b - slack if higher else b + slack
            worse = c < limit if higher else c > limit
            row = {"step": step["label"], "metric": name, "baseline": b, "current": c,
                   "change": (c - b) / b if b else None, "limit": limit,
                   "direction": "higher is better" if higher else "lower is better",
                   "verdict": "REGRESSION" if worse else "ok"}
            rows.append(row)
            if worse:
                regressions.append(row)
    return {"file": baseline.get("_file", baseline.get("samples", "")), "rows": rows, "regressions": regressions,
            "unmatched_steps": unmatched, "tolerances": rules}
