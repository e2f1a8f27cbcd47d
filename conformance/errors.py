"""Errors the harness raises on purpose, each with one clear line for the user.

It also names every way one request can fail (`ErrorKind`): the run's report and the bench's
samples count failures by these names, so a fault is a finding with a kind, never a traceback.
"""
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


class ErrorKind(str):
    """The name of one way a request failed, e.g. ``connect-refused``.

    A kind refines an older, coarser name (`family`): ``connect-refused``, ``dns`` and ``tls``
    are all ``connect-error``s. It compares equal to its family too, so code that matches the
    coarse names (``kind in ("connect-error", "connect-timeout")``) keeps working; it is
    written, printed and hashed as its own name.
    """

    family: str

    def __new__(cls, name: str, family: str | None = None) -> "ErrorKind":
        self = super().__new__(cls, name)
        self.family = family or name
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        if isinstance(other, ErrorKind):
            return str.__eq__(self, other)
        return str.__eq__(self, other) or str.__eq__(self.family, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __reduce__(self) -> tuple:
        return (ErrorKind, (str(self), self.family))


# Before any byte of the request left: always safe to send again.
CONNECT_REFUSED = ErrorKind("connect-refused", "connect-error")
DNS = ErrorKind("dns", "connect-error")
TLS = ErrorKind("tls", "connect-error")
CONNECT_ERROR = ErrorKind("connect-error")
CONNECT_TIMEOUT = ErrorKind("connect-timeout")
# After the request was sent.
FIRST_BYTE_TIMEOUT = ErrorKind("first-byte-timeout", "timeout")  # no status line in time
IDLE_TIMEOUT = ErrorKind("idle-timeout", "timeout")  # too long a silence between two reads
TOTAL_TIMEOUT = ErrorKind("timeout")  # the whole answer took longer than the total deadline
RESET = ErrorKind("reset", "disconnected")  # the peer reset the connection (RST)
DISCONNECTED = ErrorKind("disconnected")  # the peer closed the connection mid-answer
PROTOCOL_ERROR = ErrorKind("protocol-error")  # not HTTP/1.1 as spoken
TOO_LARGE = ErrorKind("too-large")  # a body beyond the client's cap
REDIRECT = ErrorKind("redirect")  # a 3xx: never followed, the key must not travel elsewhere
# Within a complete 2xx answer (counted, not raised: the checks judge these).
INCOMPLETE = ErrorKind("incomplete")  # a stream without its terminator
BAD_JSON = ErrorKind("bad-json")
BAD_UTF8 = ErrorKind("bad-utf8")

BEFORE_SENDING = frozenset({CONNECT_REFUSED, DNS, CONNECT_TIMEOUT})


def http_kind(status: int) -> ErrorKind:
    """``http-429``, ``http-503``, ...: a status that is a failure of the request as such."""
    return ErrorKind(f"http-{status}")


class TransportError(ConformanceError):
    """One request failed below HTTP semantics (connect, timeout, protocol error)."""

    def __init__(self, kind: str, message: str):
        from conformance.secrets import redact  # here: secrets imports this module

        self.kind = kind if isinstance(kind, ErrorKind) else ErrorKind(kind)
        # A library's message may quote what it was given, a header with the key included.
        super().__init__(redact(f"{kind}: {message}"))
