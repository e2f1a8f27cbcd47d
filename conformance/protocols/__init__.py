"""The wire protocols, by the endpoint names the suite uses."""
from __future__ import annotations

from conformance.protocols.base import WireProtocol
from conformance.protocols.chat_completions import ChatCompletions
from conformance.protocols.messages import Messages
from conformance.protocols.responses import Responses
from conformance.suite.model import Contract

IMPLEMENTATIONS: dict[str, type[WireProtocol]] = {
    "chat_completions": ChatCompletions,
    "responses": Responses,
    "messages": Messages,
}


def wire_protocols(contract: Contract) -> dict[str, WireProtocol]:
    """The contract's endpoints that this harness can speak, in contract order."""
    return {name: IMPLEMENTATIONS[name](protocol, contract)
            for name, protocol in contract.endpoints.items() if name in IMPLEMENTATIONS}
