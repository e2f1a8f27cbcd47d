"""What a check holds while it runs: one endpoint of one target, and the exchanges it made."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.checks.failures import CheckFailed, CheckSkipped
from conformance.errors import TransportError
from conformance.protocols.base import ChatRequest, Reply, Turn, WireProtocol
from conformance.suite.model import Contract
from conformance.transport.client import Client, Exchange

# A prompt that any chat model answers at some length; the wording does not matter to the checks.
PROMPT = "Write a haiku about the ocean."
# A fixed seed for checks that compare two answers: any value in the contract's range works.
SEED = 1234


class Unreachable(TransportError):
    """The target cannot be reached at all: the run stops instead of failing every check."""


def expect_success(exchange: Exchange) -> None:
    if exchange.error:
        raise CheckFailed(f"request failed: {exchange.error}")
    if exchange.status != 200:
        raise CheckFailed(f"expected status 200, found {exchange.status}: {exchange.body[:200]!r}")


@dataclass
class Probe:
    contract: Contract
    wire: WireProtocol
    client: Client
    exchanges: list[Exchange] = field(default_factory=list)
    # Which sample of a sampled case this run is (0 for a case run once): sampled checks seed
    # their requests with `seed`, so that samples differ.
    sample: int = 0
    # The tier's cap on samples (None: as declared): a check that draws its own samples (the
    # latency SLO) takes at most this many.
    sample_cap: int | None = None

    @property
    def endpoint(self) -> str:
        return self.wire.name

    @property
    def seed(self) -> int:
        """The seed of this sample's requests: SEED, then SEED + 1, ... for later samples."""
        return SEED + self.sample

    def supports(self, parameter: str) -> bool:
        param = self.contract.parameters.get(parameter)
        return param is not None and param.binding(self.endpoint).supported

    def require(self, *parameters: str) -> None:
        """Skip the check, saying why, where the contract does not offer a parameter here."""
        for name in parameters:
            if name not in self.contract.parameters:
                raise CheckSkipped(f"the contract has no parameter {name!r}")
            binding = self.contract.parameters[name].binding(self.endpoint)
            if not binding.supported:
                raise CheckSkipped(f"{name} is not offered on {self.endpoint}: {binding.unsupported}")

    def request(self, *, stream: bool = False, include_usage: bool = False, prompt: str = PROMPT,
                **params: Any) -> ChatRequest:
        """A small valid request; `max_tokens` stays low because the live endpoint bills per message.

        A parameter given as None is left out of the body (`max_tokens=None` omits it).
        """
        params.setdefault("max_tokens", self.contract.probe_max_tokens)
        params = {k: v for k, v in params.items() if v is not None}
        return ChatRequest([Turn("user", prompt)], params=params, stream=stream, include_usage=include_usage)

    async def send(self, request: ChatRequest, **kwargs: Any) -> Exchange:
        body = self.wire.body(request)
        exchange = await self.client.send(self.wire.protocol, body, stream=request.stream,
                                          is_content=self.wire.is_content, **kwargs)
        self.exchanges.append(exchange)
        if exchange.error and exchange.error.kind in ("connect-error", "connect-timeout"):
            raise Unreachable(exchange.error.kind, f"{exchange.url}: {exchange.error}")
        return exchange

    async def send_raw(self, payload: bytes) -> Exchange:
        """Send bytes as they are: how a check sends a body no valid request would."""
        exchange = await self.client.send(self.wire.protocol, payload)
        self.exchanges.append(exchange)
        return exchange

    async def answer(self, request: ChatRequest) -> Reply:
        """Send, insist on a 200, and read the reply (stream or not) in protocol-neutral terms.

        Shape is not judged here (that is `response_shape`'s rule); only an answer too broken
        to read fails.
        """
        return self.read(await self.send(request))

    def read(self, exchange: Exchange) -> Reply:
        """The reply in an exchange that must be a success (what `answer` does after sending)."""
        expect_success(exchange)
        try:
            if exchange.stream:
                return self.wire.stream_reply(exchange)
            return self.wire.reply(exchange.json())
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise CheckFailed(f"cannot read the answer ({type(exc).__name__}: {exc}): "
                              f"{exchange.body[:200]!r}") from None
