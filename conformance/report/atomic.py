"""All-or-nothing file writes: a reader (or a Ctrl-C) never sees half a report."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


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
    tmp = _create_temp(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
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


def _create_temp(path: Path) -> Path:
    # os.open with mode 0o666 lets the kernel apply the umask, so the report ends up with
    # the permissions a plain open() would give (mkstemp would force 0600).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
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
