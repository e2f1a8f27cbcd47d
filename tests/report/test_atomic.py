"""write_atomic: the old file survives any failure, and no temp file is left behind."""
from __future__ import annotations

import os
import sys

import pytest

from conformance.report.atomic import write_atomic


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_new_file_byte_exact(tmp_path):
    target = tmp_path / "report.txt"
    write_atomic(target, "line one\r\nzwei – ✓\n")
    assert target.read_bytes() == "line one\r\nzwei – ✓\n".encode("utf-8")
    assert leftovers(tmp_path) == []


def test_replaces_existing_file(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_failed_replace_keeps_previous_content(tmp_path, monkeypatch):
    target = tmp_path / "report.txt"
    target.write_text("previous report")

    def boom(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk went away"):
        write_atomic(target, "half-finished new report")
    monkeypatch.undo()

    assert target.read_text() == "previous report"
    assert leftovers(tmp_path) == []


def test_ctrl_c_mid_write_keeps_previous_content(tmp_path, monkeypatch):
    target = tmp_path / "report.txt"
    target.write_text("previous report")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new report")
    monkeypatch.undo()

    assert target.read_text() == "previous report"
    assert leftovers(tmp_path) == []


def test_failed_first_write_creates_nothing(tmp_path, monkeypatch):
    target = tmp_path / "report.txt"
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("nope")))
    with pytest.raises(OSError):
        write_atomic(target, "content")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_in_target_directory(tmp_path, monkeypatch):
    # os.replace is only atomic within one filesystem, so the temp file must be a sibling.
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "report.txt", "x")
    assert len(seen) == 1
    assert os.path.dirname(seen[0]) == str(tmp_path)


def test_lone_surrogate_does_not_crash(tmp_path):
    target = tmp_path / "report.txt"
    write_atomic(target, "bad byte: \udcff")
    assert target.read_text(encoding="utf-8") == "bad byte: \\udcff"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_new_file_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "report.txt").stat().st_mode & 0o777 == 0o644
