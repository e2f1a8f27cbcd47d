"""What a check holds while it runs: one endpoint of one target, and the exchanges it made."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.errors import TransportError
from conformance.protocols.base import ChatRequest, Turn, WireProtocol
from conformance.suite.model import Contract
from conformance.transport.client import Client, Exchange

# A prompt that any chat model answers briefly; the wording does not matter to the checks.
PROMPT = "Write a haiku about the ocean."


class Unreachable(TransportError):
    """The target cannot be reached at all: the run stops instead of failing every check."""


@dataclass
class Probe:
    contract: Contract
    wire: WireProtocol
    client: Client
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.wire.name

    def request(self, *, stream: bool = False, include_usage: bool = False, **params: Any) -> ChatRequest:
        """A small valid request; `max_tokens` stays low because the live endpoint bills per message."""
        params.setdefault("max_tokens", self.contract.probe_max_tokens)
        return ChatRequest([Turn("user", PROMPT)], params=params, stream=stream, include_usage=include_usage)

    async def send(self, request: ChatRequest, **kwargs: Any) -> Exchange:
        body = self.wire.body(request)
        exchange = await self.client.send(self.wire.protocol, body, stream=request.stream,
                                          is_content=self.wire.is_content, **kwargs)
        self.exchanges.append(exchange)
        if exchange.error and exchange.error.kind in ("connect-error", "connect-timeout"):
            raise Unreachable(exchange.error.kind, f"{exchange.url}: {exchange.error}")
        return exchange
