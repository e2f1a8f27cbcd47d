"""Report writers: report.json, junit.xml and summary.md for a run directory, plus `latest`.

Every file is written atomically (see `atomic`) and passed through `redact()` as a last
line of defence: an API key must never reach a report, even if a check leaked one into a
message or an excerpt.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance.report.atomic import write_atomic
from conformance.report.json_report import render_json
from conformance.report.junit import render_junit
from conformance.report.markdown import render_markdown
from conformance.report.terminal import render_terminal
from conformance.secrets import redact
from conformance.verdicts import Result, RunInfo

__all__ = [
    "REPORT_FILES",
    "default_run_dir",
    "read_latest",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_terminal",
    "update_latest",
    "write_atomic",
    "write_reports",
]

LATEST = "latest"
REPORT_FILES = {"json": "report.json", "junit": "junit.xml", "markdown": "summary.md"}
_RENDERERS = {"json": render_json, "junit": render_junit, "markdown": render_markdown}


def write_reports(directory: Path, info: RunInfo, results: list[Result], *,
                  requests: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write the three reports into `directory` (created if needed); returns kind → path.

    `requests` is the run's request tally (`conformance.transport.tally`), if it has one.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind, filename in REPORT_FILES.items():
        path = directory / filename
        # Renderers redact already; doing it again here means a future renderer that forgets
        # cannot leak a key.
        extra = {"requests": requests} if kind != "junit" else {}
        write_atomic(path, redact(_RENDERERS[kind](info, results, **extra)))
        written[kind] = path
    return written


def default_run_dir(root: Path, *, now: datetime | None = None) -> Path:
    """Create and return `root/<UTC timestamp>`, e.g. `root/20261125T004512Z`.

    Runs started within the same second get `-2`, `-3`, ... The directory is created here,
    with exist_ok=False, so two runs started at once cannot claim the same name.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    suffix = 1
    while True:
        candidate = root / (stamp if suffix == 1 else f"{stamp}-{suffix}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            suffix += 1


def update_latest(reports_root: Path, run_dir: Path) -> None:
    """Point `reports_root/latest` at `run_dir`: a relative symlink, swapped in atomically.

    Where symlinks cannot be made (Windows without the privilege, some network or FAT
    filesystems), `latest` becomes a text file holding the same relative path instead.
    """
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    target = _relative(Path(run_dir), reports_root)
    link = reports_root / LATEST
    tmp = reports_root / f".{LATEST}.{secrets.token_hex(4)}.tmp"
    try:
        os.symlink(target, tmp, target_is_directory=True)
        try:
            # Replacing in one rename means a reader never finds `latest` missing.
            os.replace(tmp, link)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        write_atomic(link, target + "\n")


def read_latest(reports_root: Path) -> Path | None:
    """The run directory `latest` points at, whichever form `update_latest` managed to write."""
    link = Path(reports_root) / LATEST
    if link.is_symlink():
        return (link.parent / os.readlink(link)).resolve()
    if link.is_file():
        text = link.read_text(encoding="utf-8").strip()
        return (link.parent / text).resolve() if text else None
    return None


def _relative(run_dir: Path, reports_root: Path) -> str:
    try:
        return os.path.relpath(run_dir.absolute(), reports_root.absolute())
    except ValueError:  # different drives on Windows: no relative path exists
        return str(run_dir.absolute())
