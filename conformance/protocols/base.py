"""One interface over the three wire protocols, so each check is written once.

A check speaks in protocol-neutral terms (a `ChatRequest`, a `Reply`, lists of problems);
each protocol module translates to and from its own wire format and knows its own grammar.
"""
from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from conformance.suite.model import Contract, Protocol
from conformance.transport.client import Exchange
from conformance.transport.sse import SSEEvent


@dataclass(frozen=True)
class ToolDef:
    """A function tool in protocol-neutral terms; each protocol spells it its own way."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # as the wire carried it (Anthropic's input object is re-encoded as JSON)

    def parsed(self) -> Any:
        """The arguments as JSON, or raises ValueError."""
        return json.loads(self.arguments)


@dataclass(frozen=True)
class ImagePart:
    media_type: str
    data: str = ""  # base64, for a data URI / base64 source
    url: str = ""  # an http(s) URL instead of data

    def data_uri(self) -> str:
        return self.url or f"data:{self.media_type};base64,{self.data}"


@dataclass(frozen=True)
class Turn:
    role: str  # system | user | assistant | tool
    text: str
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()  # on an assistant turn
    tool_call_id: str | None = None  # on a tool turn: the call it answers
    tool_name: str | None = None  # on a tool turn


@dataclass(frozen=True)
class ToolChoice:
    mode: str  # auto | none | required | named
    name: str | None = None


@dataclass
class ChatRequest:
    """A request in canonical terms: contract parameter names, not wire names."""

    turns: list[Turn]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    # Wire-level fields (dotted paths) written last: how a check sends what no valid request would.
    raw: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    tool_choice: ToolChoice | None = None
    json_schema: dict[str, Any] | None = None  # ask for structured output validating against it


@dataclass
class Usage:
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Reply:
    """What a response said, whatever protocol carried it."""

    text: str
    reasoning: str = ""
    finish_reason: str | None = None  # in the protocol's own vocabulary
    usage: Usage | None = None
    response_id: str | None = None
    logprobs: list[TokenLogprob] | None = None  # None: the answer carried none
    tool_calls: list[ToolCall] = field(default_factory=list)


# Protocol-neutral finish kinds, so a check can ask "was it cut by max_tokens?" on any endpoint.
FINISH_STOP, FINISH_LENGTH, FINISH_STOP_SEQUENCE, FINISH_TOOL = "stop", "length", "stop_sequence", "tool_calls"


def set_path(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("conformance.protocols").joinpath(f"schemas/{name}.schema.json").read_text()
    return json.loads(text)


@cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    # Built once per schema: a stream validates every event, and building costs more than validating.
    return jsonschema.Draft202012Validator(load_schema(schema_name))


def schema_problems(schema_name: str, instance: Any, what: str) -> list[str]:
    validator = _validator(schema_name)
    problems = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) 
        problems.append(f"{what}{where}: {error.message}")
    return problems


class WireProtocol(ABC):
    """Translation and grammar of one wire protocol, configured by its suite layer."""

    # The protocol's finish/stop reasons mapped to the neutral kinds above.
    finish_kinds: dict[str, str] = {}
    # The official SDK's model of a non-stream answer (module, class): a second judge of shape.
    sdk_model: tuple[str, str] | None = None

    def __init__(self, protocol: Protocol, contract: Contract):
        self.protocol = protocol
        self.contract = contract

    @property
    def name(self) -> str:
        return self.protocol.name

    def sdk_problems(self, body: Any) -> list[str] | None:
        """How the official SDK's model rejects the body; None when that SDK is not installed."""
        if self.sdk_model is None:
            return None
        module, name = self.sdk_model
        try:
            model = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None
        try:
            model.model_validate(body)
        except Exception as exc:  # pydantic.ValidationError, without importing pydantic here
            errors = getattr(exc, "errors", lambda: [])()
            return [f"{module}.{name}: {'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors[:5]] \
                or [f"{module}.{name}: {exc}"]
        return []

    def finish_kind(self, reply: Reply) -> str | None:
        return self.finish_kinds.get(reply.finish_reason or "", reply.finish_reason)

    def wire_name(self, parameter: str) -> str | None:
        return self.contract.parameters[parameter].binding(self.name).wire_name

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body = self.base_body(request)
        for name, value in request.params.items():
            wire = self.wire_name(name)
            if wire is None:
                raise ValueError(f"parameter {name!r} is not supported on {self.name}")
            if isinstance(value, list) and value and all(isinstance(t, ToolDef) for t in value):
                value = [self.tool_def(t) for t in value]
            set_path(body, wire, value)
        if request.tool_choice is not None:
            body["tool_choice"] = self.tool_choice(request.tool_choice)
        if request.json_schema is not None:
            self.ask_json(body, request.json_schema)
        for dotted, value in request.raw.items():
            set_path(body, dotted, value)
        return body

    @abstractmethod
    def base_body(self, request: ChatRequest) -> dict[str, Any]:
        """Model, messages and stream switches in this protocol's shape."""

    @abstractmethod
    def tool_def(self, tool: ToolDef) -> dict[str, Any]:
        """One function tool definition in this protocol's shape."""

    @abstractmethod
    def tool_choice(self, choice: ToolChoice) -> Any:
        """A tool_choice value in this protocol's shape."""

    @abstractmethod
    def ask_json(self, body: dict[str, Any], schema: dict[str, Any]) -> None:
        """Ask for structured output that validates against `schema`."""

    @abstractmethod
    def is_content(self, event: SSEEvent) -> bool:
        """True when a stream event carries answer text (not role-only, not reasoning)."""

    @abstractmethod
    def reply(self, body: Any) -> Reply:
        """Read a non-stream body; assumes it passed `shape_problems`."""

    @abstractmethod
    def shape_problems(self, body: Any) -> list[str]:
        """Every way a non-stream body breaks the protocol (schema and cross-field rules)."""

    @abstractmethod
    def stream_problems(self, exchange: Exchange, request: ChatRequest) -> list[str]:
        """Every way a stream breaks the protocol's framing and event grammar."""

    @abstractmethod
    def stream_reply(self, exchange: Exchange) -> Reply:
        """Reassemble a stream into the reply it spells out."""

    @abstractmethod
    def error_problems(self, exchange: Exchange, *, status: int, param: str | None) -> list[str]:
        """Ways an error answer differs from the expected status, body shape and named parameter."""
