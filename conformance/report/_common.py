"""Helpers shared by the report writers: counting, redaction of nested data, run timing."""
from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Iterable

from conformance.secrets import redact
from conformance.verdicts import Result, RunInfo, Status

# Declaration order (passed, failed, skipped, xfailed, xpassed, error, inconclusive): every report lists
# counts the same way, and it reads like pytest's "40 passed, 1 failed, 2 skipped".
STATUS_ORDER: tuple[Status, ...] = tuple(Status)


def status_of(result: Result) -> Status:
    # Tolerate a plain string status so a harness bug still yields a report rather than a crash.
    return result.status if isinstance(result.status, Status) else Status(str(result.status))


def count(results: Iterable[Result]) -> dict[Status, int]:
    counts = {s: 0 for s in STATUS_ORDER}
    for r in results:
        counts[status_of(r)] += 1
    return counts


def phrase(counts: dict[Status, int]) -> str:
    """'12 passed, 1 failed': nonzero counts only, in a fixed order."""
    parts = []
    for status in STATUS_ORDER:
        n = counts.get(status, 0)
        if n:
            word = status.value
            if status is Status.ERROR and n != 1:
                word = "errors"
            parts.append(f"{n} {word}")
    return ", ".join(parts)


def scrub(value: Any) -> Any:
    """Redact every string inside nested data, keys included.

    The final text is redacted too, but serialisation can escape a key (JSON, XML) so the
    plain form no longer matches; redacting before serialising closes that gap.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_key(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, (set, frozenset)):
        # Sets have no order; sorting by text keeps reports byte-stable between runs.
        return [scrub(v) for v in sorted(value, key=repr)]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/Infinity are not JSON
    return value


def _key(key: Any) -> Any:
    # json.dumps accepts only scalar keys, and its default= hook is never consulted for keys.
    if isinstance(key, (int, float, bool)) or key is None:
        return key
    return redact(key if isinstance(key, str) else str(key))


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def wall_seconds(info: RunInfo) -> float | None:
    """Elapsed wall-clock time of the run, or None when it cannot be known."""
    start, end = parse_time(info.started_at), parse_time(info.finished_at)
    if start is None or end is None:
        return None
    try:
        seconds = (end - start).total_seconds()
    except TypeError:  # one timestamp naive, the other aware
        return None
    return seconds if seconds >= 0 else None


def format_seconds(seconds: float) -> str:
    text = f"{seconds:.2f}s"
    if seconds >= 60:
        whole = int(seconds)
        text += f" ({whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d})"
    return text


_WS = re.compile(r"\s+")
# Messages quote server output; a raw ESC or CR from a hostile or buggy server must not repaint
# the terminal of whoever prints the report, so control characters are shown as escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_controls(text: str) -> str:
    """Replace control characters (other than tab and newline) with `\\xNN`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def one_line(text: str, limit: int | None = None) -> str:
    """Whitespace collapsed to single spaces, cut to `limit` characters with an ellipsis."""
    # Redact before cutting: a cut through a key would leave a prefix that redact() no
    # longer recognises.
    line = _WS.sub(" ", redact(text or "")).strip()
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def grid(results: list[Result]) -> tuple[list[str], list[str], dict[tuple[str, str], list[Result]]]:
    """Group results by (check, endpoint), keeping first-seen order of checks and endpoints."""
    checks: dict[str, None] = {}
    endpoints: dict[str, None] = {}
    cells: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        checks.setdefault(r.check, None)
        endpoints.setdefault(r.endpoint, None)
        cells.setdefault((r.check, r.endpoint), []).append(r)
    return list(checks), list(endpoints), cells


def default_message(result: Result) -> str:
    """The result's message, or a stock explanation for outcomes that are clear without one."""
    if result.message:
        return result.message
    return {
        Status.XPASSED: "expected divergence did not occur (strict: this fails the run)",
        Status.XFAILED: "expected divergence occurred",
    }.get(status_of(result), "")
