"""The conformance matrix: checks × endpoints × targets, from the report.json of each run.

One cell per (check, endpoint, target): passed, failed, inconclusive, expected divergence or skipped, with
counts when a check has several cases and the reasons behind divergences and skips.
"""
from __future__ import annotations

import html
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from conformance.errors import SetupError
from conformance.secrets import redact

ORDER = ("failed", "error", "xpassed", "inconclusive", "xfailed", "passed", "skipped")
WORDS = {"passed": "passed", "failed": "failed", "error": "error", "xpassed": "divergence fixed",
         "xfailed": "expected divergence", "skipped": "skipped", "inconclusive": "inconclusive"}
GLYPH = {"passed": "✅", "failed": "❌", "error": "💥", "xpassed": "❗", "xfailed": "🔸", "skipped": "⏭️",
         "inconclusive": "❔"}


@dataclass
class Cell:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return next(s for s in ORDER if self.counts.get(s))

    def label(self) -> str:
        total = sum(self.counts.values())
        shown = self.counts[self.verdict]
        count = f" {shown}/{total}" if total > 1 and shown != total else (f" {total}" if total > 1 else "")
        return f"{GLYPH[self.verdict]} {WORDS[self.verdict]}{count}"


@dataclass
class Matrix:
    targets: list[str]
    checks: list[str]
    endpoints: list[str]
    cells: dict[tuple[str, str, str], Cell]


def load(paths: list[Path]) -> Matrix:
    targets, checks, endpoints = [], [], []
    cells: dict[tuple[str, str, str], Cell] = {}
    for path in paths:
        try:
            report = json.loads(path.read_text())
            target = report["run"]["target"]
            results = report["results"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SetupError(f"{path}: not a conformance report.json ({exc})") from None
        if target in targets:
            target = f"{target} ({path.parent.name})"
        targets.append(target)
        for r in results:
            checks += [r["check"]] if r["check"] not in checks else []
            endpoints += [r["endpoint"]] if r["endpoint"] not in endpoints else []
            cell = cells.setdefault((r["check"], r["endpoint"], target), Cell())
            cell.counts[r["status"]] += 1
            if r["status"] in ("xfailed", "xpassed", "skipped", "failed", "error", "inconclusive") and r["message"]:
                reason = f"{r['case'] + ': ' if r['case'] else ''}{r['message']}"
                if reason not in cell.reasons:
                    cell.reasons.append(redact(reason))
    return Matrix(targets, checks, endpoints, cells)


def render_markdown(m: Matrix) -> str:
    out = ["# Conformance matrix", "", f"Targets: {', '.join(m.targets)}. Legend: " +
           ", ".join(f"{GLYPH[s]} {WORDS[s]}" for s in ORDER) + ".", ""]
    columns = [(e, t) for e in m.endpoints for t in m.targets]
    out.append("| check | " + " | ".join(f"{e} · {t}" for e, t in columns) + " |")
    out.append("|---|" + "---|" * len(columns))
    for check in m.checks:
        row = [m.cells[(check, e, t)].label() if (check, e, t) in m.cells else "—" for e, t in columns]
        out.append(f"| `{check}` | " + " | ".join(row) + " |")
    notes = [(k, c) for k, c in m.cells.items() if c.reasons and c.verdict != "passed"]
    if notes:
        out += ["", "## Why", ""]
        for (check, endpoint, target), cell in notes:
            for reason in cell.reasons[:5]:
                out.append(f"- **{target}** `{check}[{endpoint}]` — {reason[:300].replace('|', '/')}")
    return "\n".join(out) + "\n"


def render_html(m: Matrix) -> str:
    columns = [(e, t) for e in m.endpoints for t in m.targets]
    head = "".join(f"<th>{html.escape(e)}<br><small>{html.escape(t)}</small></th>" for e, t in columns)
    rows = []
    for check in m.checks:
        cells = []
        for e, t in columns:
            cell = m.cells.get((check, e, t))
            if cell is None:
                cells.append("<td>—</td>")
                continue
            title = html.escape("\n".join(cell.reasons[:10]))
            cells.append(f'<td class="{cell.verdict}" title="{title}">{html.escape(cell.label())}</td>')
        rows.append(f"<tr><th>{html.escape(check)}</th>{''.join(cells)}</tr>")
    style = ("body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:4px 8px;font-size:13px}.passed{background:#e6f4ea}.failed,.error,.xpassed{background:#fce8e6}"
             ".xfailed{background:#fef7e0}.skipped{background:#f1f3f4}.inconclusive{background:#f3e8fd}")
    return redact(f"<!doctype html><meta charset=utf-8><title>Conformance matrix</title><style>{style}</style>"
                  f"<h1>Conformance matrix</h1><p>Hover a cell for the reasons.</p>"
                  f"<table><tr><th>check</th>{head}</tr>{''.join(rows)}</table>\n")
