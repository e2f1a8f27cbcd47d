"""summary.md: the run for people, e.g. a CI job summary or a merge-request comment."""
from __future__ import annotations

import re
from typing import Any

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
from conformance.report.requests import request_lines, settings_line
from conformance.secrets import redact
from conformance.verdicts import Result, RunInfo, Status

GLYPHS = {
    Status.PASSED: "✅",
    Status.FAILED: "❌",
    Status.SKIPPED: "⏭️",
    Status.XFAILED: "🔸",
    Status.XPASSED: "❗",
    Status.ERROR: "💥",
    Status.INCONCLUSIVE: "❔",
}

# Characters that would otherwise start emphasis, links, HTML or a table cell boundary.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def render_markdown(info: RunInfo, results: list[Result], *, requests: dict[str, Any] | None = None) -> str:
    out: list[str] = []
    out += _header(info, results)
    out += _requests(requests)
    out += _table(results)
    out += _failures(results)
    out += _inconclusive(results)
    out += _skipped(results)
    out += _assumptions(info)
    return redact("\n".join(out).rstrip("\n") + "\n")


def _requests(requests: dict[str, Any] | None) -> list[str]:
    lines = [line for line in (settings_line(requests), *request_lines(requests)) if line]
    return [f"- {text(line)}" for line in lines] + [""] if lines else []


def text(value: object) -> str:
    """Plain prose on one line, with Markdown metacharacters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", visible_controls(one_line(redact(str(value)))))


def code(value: object, *, in_table: bool = False) -> str:
    """An inline code span that survives backticks inside the value."""
    content = visible_controls(one_line(redact(str(value))))
    if not content:
        return "—"  # an empty code span renders as two literal backticks
    longest = max((len(m) for m in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    if content.startswith("`") or content.endswith("`"):
        content = f" {content} "  # CommonMark strips one space each side, so the fence stays separate
    if in_table:
        # GFM splits cells on | before it parses code spans, even inside them.
        content = content.replace("|", r"\|")
    return f"{fence}{content}{fence}"


def _header(info: RunInfo, results: list[Result]) -> list[str]:
    out = [f"# Conformance report: {text(info.contract)} on {text(info.target)}", ""]
    rows = [
        ("Contract", code(info.contract)),
        ("Model", code(info.model)),
        ("Target", code(info.target)),
        ("Base URL", code(info.base_url)),
        ("Suite file", code(info.suite_file)),
    ]
    if info.selection:
        rows.append(("Selection", code(info.selection)))
    rows.append(("Started", text(info.started_at or "unknown")))
    if info.finished_at:
        rows.append(("Finished", text(info.finished_at)))
    elapsed = wall_seconds(info)
    if elapsed is not None:
        rows.append(("Duration", format_seconds(elapsed)))
    out += [f"- **{label}:** {value}" for label, value in rows]
    out.append("")
    if info.interrupted:
        reason = text(info.aborted) if info.aborted else "the run was stopped early"
        out += [f"> **Interrupted:** {reason}; results below are partial.", ""]
    elif info.aborted:
        out += [f"> **Aborted:** {text(info.aborted)}", ""]

    counts = count(results)
    if results:
        out.append(f"**Result:** {phrase(counts)} ({len(results)} total)")
    else:
        out.append("**Result:** no checks ran")
    out.append("")
    return out


def cell(group: list[Result]) -> str:
    """One table cell: the glyph of the most important outcome, then a word or the counts."""
    counts = count(group)
    if len(group) == 1:
        status = status_of(group[0])
        return f"{GLYPHS[status]} {status.value}"
    return f"{GLYPHS[_headline(counts)]} {phrase(counts)}"


def _headline(counts: dict[Status, int]) -> Status:
    # A cell with any bad outcome must not look green at a glance.
    for status in (Status.FAILED, Status.XPASSED, Status.ERROR, Status.INCONCLUSIVE, Status.PASSED, Status.XFAILED):
        if counts[status]:
            return status
    return Status.SKIPPED


def _table(results: list[Result]) -> list[str]:
    if not results:
        return []
    checks, endpoints, cells = grid(results)
    out = [
        "## Results",
        "",
        "| Check | " + " | ".join(code(e, in_table=True) for e in endpoints) + " |",
        "|---|" + "---|" * len(endpoints),
    ]
    for check in checks:
        row = [code(check, in_table=True)]
        for endpoint in endpoints:
            group = cells.get((check, endpoint))
            row.append(cell(group).replace("|", r"\|") if group else "—")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def _failures(results: list[Result]) -> list[str]:
    bad = [r for r in results if status_of(r).is_bad]
    out = ["## Failures", ""]
    if not bad:
        return out + ["None.", ""]
    for r in bad:
        status = status_of(r)
        message = visible_controls(redact(default_message(r) or "(no message)"))
        head = f"- {GLYPHS[status]} **{status.value}** {code(r.id)}"
        if "\n" in message.strip():
            # Multi-line messages (diffs, tracebacks) keep their layout in a fenced block.
            longest = max((len(m) for m in re.findall(r"`{3,}", message)), default=2)
            fence = "`" * (longest + 1)
            out.append(head)
            out.append("")
            out += ["  " + line if line else "" for line in [fence + "text", *message.strip("\n").splitlines(), fence]]
        else:
            out.append(f"{head}: {text(message)}")
        if r.rule:
            out.append(f"  - rule: {text(r.rule)}")
    out.append("")
    return out


def _inconclusive(results: list[Result]) -> list[str]:
    """Sampled checks whose interval straddles the required rate or limit, with the interval
    (in the message): not enough evidence either way. The section is left out when there are none."""
    unsure = [r for r in results if status_of(r) is Status.INCONCLUSIVE]
    if not unsure:
        return []
    out = ["## Inconclusive", "", "Not enough evidence either way: fails the run only under `--strict`.", ""]
    out += [f"- {GLYPHS[Status.INCONCLUSIVE]} {code(r.id)}: {text(default_message(r) or 'no interval given')}"
            for r in unsure]
    return out + [""]


def _skipped(results: list[Result]) -> list[str]:
    quiet = [r for r in results if status_of(r) in (Status.SKIPPED, Status.XFAILED)]
    out = ["## Skipped", ""]
    if not quiet:
        return out + ["None.", ""]
    for r in quiet:
        status = status_of(r)
        label = "xfailed, expected divergence" if status is Status.XFAILED else "skipped"
        reason = default_message(r) or "no reason given"
        out.append(f"- {GLYPHS[status]} {code(r.id)} ({label}): {text(reason)}")
    out.append("")
    return out


def _assumptions(info: RunInfo) -> list[str]:
    out = ["## Assumptions to confirm on a live run", ""]
    if not info.assumptions:
        return out + ["None recorded.", ""]
    for item in info.assumptions:
        where = item.get("where", "") if isinstance(item, dict) else ""
        body = item.get("text", "") if isinstance(item, dict) else item
        out.append(f"- {code(where)}: {text(body)}" if where else f"- {text(body)}")
    out.append("")
    return out
