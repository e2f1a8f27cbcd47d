"""All-or-nothing file writes: a reader (or a Ctrl-C) never sees half a report."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one step: old content or new, never a mixture.

    The temp file sits in the target's directory because `os.replace` is only atomic within
    one filesystem. On any failure, KeyboardInterrupt included, the temp file is removed and
    the previous file is left untouched.
    """
    path = Path(path)
    # Lone surrogates (undecodable bytes carried through from a response) cannot be encoded;
    # backslashreplace keeps them visible, and inside JSON strings yields a valid escape.
    data = text.encode("utf-8", errors="backslashreplace")
    tmp, fd = _open_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)  # the data must be on disk before the rename makes it visible
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _open_temp(path: Path) -> tuple[Path, int]:
    # Mode 0o666 lets the kernel apply the umask, so the report gets the permissions a plain
    # open() would give (mkstemp would force 0600). O_EXCL: never reuse someone else's file.
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:
            continue


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened this way on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
