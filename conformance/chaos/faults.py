"""The chaos server's faults: which one, on which requests, and what it does to an answer."""
from __future__ import annotations

from dataclasses import dataclass

# Each mode breaks one thing; the answer is otherwise the reference server's.
MODES: dict[str, str] = {
    "none": "answer normally (a recording server: see `ChaosServer.seen`)",
    "reset": "send half the answer, then reset the connection (TCP RST)",
    "truncate": "a stream without its terminator ([DONE], message_stop, response.completed); "
                "a body cut short by a clean close",
    "bad_json": "one SSE event (or the body) is not valid JSON",
    "bad_utf8": "invalid UTF-8 bytes inside one SSE event (or the body)",
    "slow_loris": "accept and read the request, never answer",
    "stall": "send the stream's headers, then nothing",
    "trickle": "send the stream's headers, then a keep-alive comment every 50 ms, forever",
    "huge": "a 10 MB answer",
    "http_429": "429 Too Many Requests with Retry-After, in the protocol's error shape",
    "http_503": "503 Service Unavailable, in the protocol's error shape",
    "redirect": "307 to another host (`redirect_to`), which should never see the key",
}
HUGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Fault:
    """`mode` on the requests numbered skip+1 ... skip+times (all after `skip` if times is None).

    `skip` lets a run's one-request preflight through, so the fault lands on the checks;
    `times` lets the server recover, so a bounded retry can be seen to succeed.
    """

    mode: str = "none"
    skip: int = 0
    times: int | None = None
    retry_after: str = "1"  # for http_429 (and http_503): seconds or an HTTP date
    redirect_to: str = ""  # for redirect: the other host's origin, e.g. http://127.0.0.1:PORT

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown chaos mode {self.mode!r}; known: {', '.join(MODES)}")

    def applies(self, number: int) -> bool:
        """Whether the `number`-th request (1-based) gets the fault."""
        if self.mode == "none" or number <= self.skip:
            return False
        return self.times is None or number <= self.skip + self.times


def corrupt_json(data: bytes) -> bytes:
    """Valid JSON made invalid in the simplest way a server breaks it: a stray byte after the brace."""
    at = data.find(b"{")
    return data[:at + 1] + b"#" + data[at + 1:] if at >= 0 else data + b"#"


def corrupt_utf8(data: bytes) -> bytes:
    """Bytes that no UTF-8 decoder accepts, inside the first JSON string."""
    at = data.find(b'"')
    return data[:at + 1] + b"\xff\xfe\xc3" + data[at + 1:] if at >= 0 else data + b"\xff"


def error_body(family: str, status: int) -> bytes:
    """A 429/503 in the protocol's error shape, as a provider under load sends it."""
    kind = {429: "rate_limit_error", 503: "overloaded_error"}.get(status, "api_error")
    message = {429: "rate limited: slow down", 503: "service unavailable: try again"}.get(status, "error")
    if family == "anthropic":
        return b'{"type":"error","error":{"type":"%s","message":"%s"}}' % (kind.encode(), message.encode())
    return b'{"error":{"message":"%s","type":"%s","param":null,"code":null}}' % (message.encode(), kind.encode())
