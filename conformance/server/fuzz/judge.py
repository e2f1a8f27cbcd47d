"""What an answer to a hostile request may be: a 4xx in the protocol's error shape, or a 2xx.

The protocols' own `error_problems` judge the shape, so the fuzzer holds the server to exactly
the rules the conformance checks hold any server to. An error from a path outside the three
chat endpoints is judged in the OpenAI shape (that is how the server answers there). A 3xx is
Starlette's redirect of a trailing slash, harmless; a HEAD answer has no body to judge.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conformance.protocols import wire_protocols
from conformance.protocols.base import WireProtocol
from conformance.server.errors import family_of_path
from conformance.suite.model import Contract
from conformance.transport.client import Exchange

__all__ = ["Answer", "Judge"]


@dataclass(frozen=True)
class Answer:
    """What came back for one request; `status` None when the request got no HTTP answer at all."""

    status: int | None
    body: bytes = b""
    error: str | None = None  # the client's exception, e.g. a timeout or a reset connection


@dataclass
class Judge:
    contract: Contract
    _protocols: dict[str, WireProtocol] = field(init=False)

    def __post_init__(self) -> None:
        self._protocols = wire_protocols(self.contract)

    def problems(self, method: str, path: str, answer: Answer) -> list[str]:
        if answer.status is None:
            return [f"no answer: {answer.error}"]
        if answer.status >= 500:
            return [f"status {answer.status}: a server error for a client's request"]
        if answer.status < 400 or method == "HEAD":
            return []
        endpoint = "messages" if family_of_path(path) == "anthropic" else "chat_completions"
        exchange = Exchange(endpoint, path, None, False, status=answer.status, body=answer.body)
        return self._protocols[endpoint].error_problems(exchange, status=answer.status, param=None)
