"""Errors the harness raises on purpose, each with one clear line for the user."""
from __future__ import annotations


class ConformanceError(Exception):
    """Base of errors that end a command with exit code 2 and a one-line message."""


class SuiteError(ConformanceError):
    """A suite file is malformed: names the file, the line, the YAML path and what was expected."""

    def __init__(self, file: str, where: str, line: int | None, expected: str):
        self.file, self.where, self.line, self.expected = file, where, line, expected
        at = f"{file}:{line}" if line else file
        super().__init__(f"{at}: at {where}: expected {expected}")


class SetupError(ConformanceError):
    """The run cannot start or continue: unreachable endpoint, missing key, bad option."""


class TransportError(ConformanceError):
    """One request failed below HTTP semantics (connect, timeout, protocol error)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(f"{kind}: {message}")
