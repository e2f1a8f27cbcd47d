"""API keys: read from the environment or a file only, and scrubbed from everything the harness writes.

Never from a command-line flag's value: that lands in shell history and in `ps` output.
"""
from __future__ import annotations

import logging
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
        register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__


def from_env(var: str, *, required: bool) -> Secret | None:
    if not var.isidentifier():
        # Most likely a key pasted where its variable's name belongs: never echo it.
        register(var)
        raise SetupError("--api-key-env takes the name of an environment variable (letters, digits, _), "
                         "not a key; a key goes in the environment or in --api-key-file")
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
    """Make a value known for redaction without wrapping it (keys generated for a local server).

    Its escaped spellings too: an error message quoting a rejected header shows the key as a
    Python literal would (a stray newline as ``\\n``).
    """
    if len(value) < 4:  # short values would redact ordinary words; nobody issues keys that short
        return
    with _lock:
        _known.update({value, repr(value)[1:-1], repr(value.encode("utf-8"))[2:-1]})


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, _REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    """Scrubs known keys from a log record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


# The HTTP libraries' debug logs quote requests and their errors (a rejected header, key
# included). A filter on a logger only sees records logged on that very logger, so each is named.
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                 "httpcore.socks", "conformance")
_FILTER = _RedactingFilter()
for _name in _HTTP_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)
