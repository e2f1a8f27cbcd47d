"""API keys: read from the environment or a file only, and scrubbed from everything the harness writes.

Never from a command-line flag's value: that lands in shell history and in `ps` output.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from conformance.errors import SetupError

_REDACTED = "[REDACTED]"
_lock = threading.Lock()
_known: set[str] = set()


class Secret:
    """A key whose repr and str never show the value; `.reveal()` is the one way to read it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str):
        self._value = value
        self.source = source
        if len(value) >= 4:
            # Short values would redact ordinary words; nobody issues keys that short.
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__


def from_env(var: str, *, required: bool) -> Secret | None:
    value = os.environ.get(var, "").strip()
    if not value:
        if required:
            raise SetupError(f"no API key: set the environment variable {var}")
        return None
    return Secret(value, f"${var}")


def from_file(path: Path) -> Secret:
    """The key on the first line of `path`; the error names the file, never its content."""
    try:
        lines = Path(path).read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(f"cannot read the API key file {path}: {type(exc).__name__}") from None
    value = lines[0].strip() if lines else ""
    if not value:
        raise SetupError(f"no API key: the file {path} is empty")
    return Secret(value, f"file {path}")


def resolve(*, env: str | None, file: Path | None, required: bool) -> Secret | None:
    """The key from `file` if given, else from the environment variable `env`, else None."""
    if file is not None:
        return from_file(file)
    if env:
        return from_env(env, required=required)
    if required:
        raise SetupError("no API key: give --api-key-env VAR or --api-key-file PATH")
    return None


def register(value: str) -> None:
    """Make a value known for redaction without wrapping it (keys generated for a local server)."""
    if len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, _REDACTED)
    return text
