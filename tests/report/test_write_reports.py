"""write_reports, update_latest and default_run_dir: files on disk, redaction, the `latest` pointer."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from conformance.report import (
    REPORT_FILES,
    default_run_dir,
    read_latest,
    update_latest,
    write_reports,
)
from conformance.verdicts import Status

from .conftest import make_info, make_result

NOW = datetime(2026, 11, 25, 0, 45, 12, tzinfo=timezone.utc)


def test_writes_three_files_into_new_directory(tmp_path, info, results):
    directory = tmp_path / "reports" / "run1"
    written = write_reports(directory, info, results)
    assert written == {
        "json": directory / "report.json",
        "junit": directory / "junit.xml",
        "markdown": directory / "summary.md",
    }
    assert sorted(p.name for p in directory.iterdir()) == sorted(REPORT_FILES.values())
    assert json.loads(written["json"].read_text(encoding="utf-8"))["summary"]["total"] == 17
    assert ET.parse(written["junit"]).getroot().tag == "testsuites"
    assert written["markdown"].read_text(encoding="utf-8").startswith("# Conformance report")


def test_rewriting_a_run_directory_replaces_reports(tmp_path, info, results):
    write_reports(tmp_path, info, results)
    written = write_reports(tmp_path, info, results[:1])
    assert json.loads(written["json"].read_text(encoding="utf-8"))["summary"]["total"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_canary_secret_never_reaches_a_report(tmp_path, canary):
    info = make_info(
        base_url=f"https://api.example.com/v1?key={canary}",
        aborted=f"401 for key {canary}",
        assumptions=[{"where": "target.yaml:1", "text": f"key {canary} is scoped"}],
    )
    leaky = make_result(
        status=Status.FAILED,
        message=f"server echoed Authorization: Bearer {canary} <&\"> and a long tail " + "z" * 600,
        rule=f"never echo {canary}",
        request={"headers": {"authorization": f"Bearer {canary}"}, canary: "as a key"},
        response={"error": {"message": f"Incorrect API key provided: {canary}"}, "raw": canary.encode()},
    )
    # Near the truncation points of the one-line titles (JUnit attribute, Markdown, terminal).
    edge = make_result("edge", status=Status.ERROR, message="q" * 487 + canary)
    skipped = make_result("quiet", status=Status.SKIPPED, message=f"no access with {canary}")

    written = write_reports(tmp_path, info, [leaky, edge, skipped])
    for path in written.values():
        content = path.read_text(encoding="utf-8")
        assert "sk-canary" not in content, path.name
        assert "[REDACTED]" in content, path.name
    # Redaction must not break the formats themselves.
    json.loads(written["json"].read_text(encoding="utf-8"))
    ET.parse(written["junit"])


def test_latest_is_relative_symlink_to_newest_run(tmp_path, info, results):
    root = tmp_path / "reports"
    first = default_run_dir(root, now=NOW)
    write_reports(first, info, results)
    update_latest(root, first)
    second = default_run_dir(root, now=NOW)
    write_reports(second, info, results)
    update_latest(root, second)

    latest = root / "latest"
    if not latest.is_symlink():
        pytest.skip("this filesystem cannot make symlinks")
    assert os.readlink(latest) == second.name  # relative: survives moving the reports tree
    assert latest.resolve() == second.resolve()
    assert (latest / "report.json").is_file()
    assert read_latest(root) == second.resolve()
    assert sorted(p.name for p in root.iterdir()) == sorted([first.name, second.name, "latest"])


def test_latest_falls_back_to_text_file(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    run = default_run_dir(root, now=NOW)

    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not supported")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    update_latest(root, run)
    latest = root / "latest"
    assert latest.is_file() and not latest.is_symlink()
    assert latest.read_text(encoding="utf-8").strip() == run.name
    assert read_latest(root) == run.resolve()
    assert sorted(p.name for p in root.iterdir()) == sorted([run.name, "latest"])


def test_symlink_replaces_earlier_fallback_file(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    old = default_run_dir(root, now=NOW)
    with monkeypatch.context() as m:
        m.setattr(os, "symlink", lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
        update_latest(root, old)
    new = default_run_dir(root, now=NOW)
    update_latest(root, new)
    assert read_latest(root) == new.resolve()


def test_latest_when_run_dir_is_elsewhere(tmp_path):
    root = tmp_path / "reports"
    elsewhere = tmp_path / "other" / "run"
    elsewhere.mkdir(parents=True)
    update_latest(root, elsewhere)
    assert read_latest(root) == elsewhere.resolve()


def test_read_latest_when_absent(tmp_path):
    assert read_latest(tmp_path) is None


def test_default_run_dir_timestamp_and_suffixes(tmp_path):
    names = [default_run_dir(tmp_path, now=NOW).name for _ in range(3)]
    assert names == ["20261125T004512Z", "20261125T004512Z-2", "20261125T004512Z-3"]
    assert all((tmp_path / n).is_dir() for n in names)


def test_default_run_dir_converts_to_utc(tmp_path):
    from datetime import timedelta

    local = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert default_run_dir(tmp_path, now=local).name == "20261125T004512Z"


def test_default_run_dir_uses_current_time(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    name = default_run_dir(tmp_path / "new").name
    stamp = datetime.strptime(name, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= stamp <= datetime.now(timezone.utc)
