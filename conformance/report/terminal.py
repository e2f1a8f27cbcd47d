"""The end-of-run screen: a check × endpoint grid, the failures, and a pytest-style last line."""
from __future__ import annotations

from conformance.report._common import (
    count,
    default_message,
    format_seconds,
    grid,
    one_line,
    phrase,
    status_of,
    visible_controls,
    wall_seconds,
)
from conformance.secrets import redact
from conformance.verdicts import Result, RunInfo, Status

MAX_FAILURE_LINES = 20
MESSAGE_WIDTH = 160

_RESET = "\x1b[0m"
_STYLES = {
    "PASS": "\x1b[32m",
    "FAIL": "\x1b[1;31m",
    "ERROR": "\x1b[1;31m",
    "skip": "\x1b[33m",
    "xfail": "\x1b[33m",
    "unsure": "\x1b[35m",
    "-": "\x1b[2m",
    "head": "\x1b[1m",
    "red": "\x1b[1;31m",
    "green": "\x1b[1;32m",
    "yellow": "\x1b[1;33m",
}


def render_terminal(info: RunInfo, results: list[Result], *, color: bool) -> str:
    def paint(style: str, s: str) -> str:
        return f"{_STYLES[style]}{s}{_RESET}" if color and style in _STYLES else s

    lines: list[str] = []
    lines += _grid(results, paint)

    bad = [r for r in results if status_of(r).is_bad]
    if bad:
        lines.append("")
        for r in bad[:MAX_FAILURE_LINES]:
            word = "ERROR" if status_of(r) is Status.ERROR else "FAILED"
            message = _line(default_message(r))
            lines.append(f"{paint('red', word)} {visible_controls(r.id)}" + (f": {message}" if message else ""))
        if len(bad) > MAX_FAILURE_LINES:
            lines.append(f"... and {len(bad) - MAX_FAILURE_LINES} more (see summary.md)")
    unsure = [r for r in results if status_of(r) is Status.INCONCLUSIVE]
    if unsure:
        lines.append("")
        for r in unsure[:MAX_FAILURE_LINES]:
            lines.append(f"{paint('unsure', 'INCONCLUSIVE')} {visible_controls(r.id)}: {_line(default_message(r))}")
        if len(unsure) > MAX_FAILURE_LINES:
            lines.append(f"... and {len(unsure) - MAX_FAILURE_LINES} more (see summary.md)")

    if info.interrupted:
        # The runner records the Ctrl-C/SIGTERM reason in `aborted`; one line says both.
        reason = _line(info.aborted) if info.aborted else "interrupted"
        lines += [""] * bool(lines) + [paint("yellow", f"!! {reason}: results are partial !!")]
    elif info.aborted:
        lines += [""] * bool(lines) + [paint("red", f"!! aborted: {_line(info.aborted)} !!")]

    lines.append(_summary_line(info, results, paint))
    # No trailing newline: the caller print()s it.
    return redact("\n".join(lines))


def _line(text: str) -> str:
    # Collapse whitespace first (a CR becomes a space), escape what is left, then cut, so the
    # width limit applies to what the user actually sees.
    return one_line(visible_controls(one_line(text)), MESSAGE_WIDTH)


def cell(group: list[Result]) -> tuple[str, str]:
    """(style, text) for one check × endpoint: `PASS 12`, `FAIL 1/12`, `?? 1/8` (inconclusive), `skip`, ..."""
    counts = count(group)
    total = len(group)
    bad = counts[Status.FAILED] + counts[Status.XPASSED] + counts[Status.ERROR]
    if bad:
        # ERROR only when nothing actually failed: a failure is a finding, an error is not.
        label = "ERROR" if bad == counts[Status.ERROR] else "FAIL"
        return label, f"{label} {bad}/{total}"
    passed, xfailed = counts[Status.PASSED], counts[Status.XFAILED]
    if counts[Status.INCONCLUSIVE]:
        return "unsure", f"?? {counts[Status.INCONCLUSIVE]}/{total}"
    if passed:
        return "PASS", f"PASS {passed}" + (f" +{xfailed} xfail" if xfailed else "")
    if xfailed:
        return "xfail", "xfail"
    return "skip", "skip"


def _grid(results: list[Result], paint) -> list[str]:
    if not results:
        return []
    checks, endpoints, cells = grid(results)
    header = ["check", *(visible_controls(e) for e in endpoints)]
    rows: list[list[tuple[str, str]]] = []
    for check in checks:
        row = [("", visible_controls(check))]
        for endpoint in endpoints:
            group = cells.get((check, endpoint))
            row.append(cell(group) if group else ("-", "-"))
        rows.append(row)
    # Widths come from the plain text: escape codes take bytes but no columns.
    widths = [len(h) for h in header]
    for row in rows:
        for i, (_, text) in enumerate(row):
            widths[i] = max(widths[i], len(text))

    def line(parts: list[tuple[str, str]]) -> str:
        padded = [
            paint(style, text) + " " * (widths[i] - len(text)) for i, (style, text) in enumerate(parts)
        ]
        return "  ".join(padded).rstrip()

    out = [line([("head", h) for h in header])]
    out += [line(row) for row in rows]
    return out


def _summary_line(info: RunInfo, results: list[Result], paint) -> str:
    counts = count(results)
    body = phrase(counts) or "no checks ran"
    elapsed = wall_seconds(info)
    if elapsed is not None:
        body += f" in {format_seconds(elapsed)}"
    if any(counts[s] for s in (Status.FAILED, Status.XPASSED, Status.ERROR)) or info.aborted:
        style = "red"
    elif counts[Status.PASSED] and not info.interrupted and not counts[Status.INCONCLUSIVE]:
        style = "green"
    else:
        style = "yellow"
    return paint(style, f"== {body} ==")
