"""Request validation driven by the contract: every rule comes from the `Contract` object.

For each contract parameter bound on the endpoint (its wire name may be a dotted path such
as ``reasoning.effort``) the value is checked for type, range (inclusive), allowed values,
list length and ``requires``; a JSON ``null`` counts as omitted. Then the model must be the
contract's, and the prompt must fit ``limits.context_tokens`` as counted by
`conformance.server.tokens`. How messages are spelled differs per protocol, so each endpoint
passes its own `ConversationReader`; everything else here is protocol-neutral.

Images are decoded here, once for every protocol (`conformance.server.images`): each costs
`image_tokens` prompt tokens and its digest joins the prompt digest, so the answer depends on
the picture. Function tools are honoured only when the contract binds ``tools`` on the endpoint.

The outcome is a typed `ValidatedRequest` or a `RequestRejected` (always 4xx) whose message
starts with the wire name of the offending field, e.g. ``temperature: 2.5 is outside the
range 0..2``.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from conformance.server.errors import RequestRejected
from conformance.server.faults import Faults
from conformance.server.generator import Sampling, digest_prompt
from conformance.server.images import ImageInfo, decode_image, image_tokens
from conformance.server.structured import TEXT, OutputFormat
from conformance.server.tokens import count_prompt_tokens
from conformance.server.tools import NONE, FunctionTool, ToolChoice
from conformance.suite.model import Contract, Parameter

__all__ = [
    "CalledTool", "Conversation", "ConversationReader", "ImageInput", "Message", "RequestRejected", "ValidatedRequest",
    "describe", "parse_json_body", "validate_parameters", "validate_request",
]


@dataclass(frozen=True)
class CalledTool:
    """A tool call the assistant made earlier in the conversation, as the client replays it."""

    id: str
    name: str
    arguments: str  # compact JSON when the client's arguments are JSON, else exactly as sent


@dataclass(frozen=True)
class ImageInput:
    """An image as sent, not yet decoded: an OpenAI URL string or an Anthropic ``source`` object."""

    source: str | Mapping[str, Any]
    where: str  # its wire path, which errors name


@dataclass(frozen=True)
class Message:
    """One prompt message, reduced to what the model and the token counter see.

    Roles: ``system``, ``user``, ``assistant``, and ``tool`` for one tool result.
    """

    role: str
    text: str
    images: tuple[ImageInput, ...] = ()
    tool_calls: tuple[CalledTool, ...] = ()

    @property
    def prompt_text(self) -> str:
        """What the model reads: the text, then each tool call's name and arguments."""
        lines = [self.text] if self.text else []
        lines += [part for call in self.tool_calls for part in (call.name, call.arguments)]
        return "\n".join(lines)


@dataclass(frozen=True)
class Conversation:
    """The protocol-specific part of a request, as a protocol's reader extracts it."""

    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice = NONE
    output_format: OutputFormat = TEXT


ConversationReader = Callable[[Mapping[str, Any]], Conversation]


@dataclass(frozen=True)
class ValidatedRequest:
    endpoint: str
    model: str
    messages: tuple[Message, ...]
    stream: bool
    include_usage: bool
    given: Mapping[str, Any]  # canonical name -> value, for the parameters the client sent
    parameters: Mapping[str, Any]  # `given` plus every contract default
    sampling: Sampling
    logprobs: bool
    top_logprobs: int | None
    tools: tuple[FunctionTool, ...]
    tool_choice: ToolChoice
    output_format: OutputFormat
    prompt_tokens: int  # images included
    prompt_digest: bytes


def describe(value: Any) -> str:
    """A short JSON rendering of a client's value for an error message."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> bool:
    """Whether any string or key in `value` holds a surrogate: JSON's \\ud800 escapes allow one alone.

    Such text has no UTF-8 form, so it would fail wherever the server encodes the prompt (its
    digest, an echoed name, an SSE frame) instead of here as a 400. Iterative: the body may nest
    as deep as the parser allowed.
    """
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


# Parsed, every object or array costs ~70 bytes: 32 MiB of "[{},{},...]" would hold 770 MiB.
# Counting the brackets bounds them before parsing (brackets inside strings count too, which
# errs on the safe side; base64 has none). Real requests hold a few thousand at most.
MAX_JSON_CONTAINERS = 200_000


def parse_json_body(raw: bytes) -> Any:
    """The request body as JSON; NaN/Infinity are refused (they would slip past range checks)."""
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_CONTAINERS:
        raise RequestRejected(413, f"The request body holds more than {MAX_JSON_CONTAINERS} JSON objects and "
                                   f"arrays.", None, "request_too_large")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RequestRejected(400, f"We could not parse the JSON body of your request: {exc}.",
                              None, "invalid_json") from None
    if _lone_surrogate(body):
        raise RequestRejected(400, "We could not parse the JSON body of your request: it escapes a lone UTF-16 "
                                   "surrogate (such as \\ud800), which is not Unicode text.", None, "invalid_json")
    return body


def _lookup(body: Mapping[str, Any], wire_name: str) -> Any:
    """Value at a dotted wire path; None when absent. A non-object on the way is a type error."""
    node: Any = body
    parts = wire_name.split(".")
    for depth, part in enumerate(parts):
        if node is None:
            return None
        if not isinstance(node, Mapping):
            prefix = ".".join(parts[:depth])
            raise RequestRejected(400, f"{prefix}: expected an object, got {describe(node)}", prefix, "invalid_type")
        node = node.get(part)
    return node


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    # Python ints are exact at any size (math.isfinite would overflow on 10**400); floats may be inf.
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _check_type(param: Parameter, wire: str, value: Any) -> None:
    def bad(expected: str) -> RequestRejected:
        return RequestRejected(400, f"{wire}: expected {expected}, got {describe(value)}", wire, "invalid_type")

    kind = param.type
    if kind == "number" and not _is_number(value):
        raise bad("a number")
    if kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        raise bad("an integer")
    if kind == "boolean" and not isinstance(value, bool):
        raise bad("a boolean")
    if kind == "string" and not isinstance(value, str):
        raise bad("a string")
    if kind == "array" and not isinstance(value, list):
        raise bad("an array")
    if kind == "enum" and value not in param.values:
        raise RequestRejected(400, f"{wire}: {describe(value)} is not one of {', '.join(param.values)}",
                              wire, "invalid_value")
    if kind == "string_or_list":
        limit = f" of at most {param.max_items}" if param.max_items is not None else ""
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise bad(f"a string or a list{limit} strings")
            if param.max_items is not None and len(value) > param.max_items:
                raise RequestRejected(400, f"{wire}: at most {param.max_items} items are allowed, got {len(value)}",
                                      wire, "invalid_value")
        elif not isinstance(value, str):
            raise bad(f"a string or a list{limit} strings")


def _check_range(param: Parameter, wire: str, value: Any) -> None:
    if param.type not in ("number", "integer"):
        return
    lo, hi = param.minimum, param.maximum
    if (lo is None or value >= lo) and (hi is None or value <= hi):
        return
    span = f"{_bound(lo) if lo is not None else '-inf'}..{_bound(hi) if hi is not None else 'inf'}"
    # OpenAI's own codes for the two directions and kinds.
    kind = "integer" if param.type == "integer" else "decimal"
    direction = "below_min" if lo is not None and value < lo else "above_max"
    raise RequestRejected(400, f"{wire}: {describe(value)} is outside the range {span}", wire,
                          f"{kind}_{direction}_value")


def validate_parameters(body: Mapping[str, Any], contract: Contract, endpoint: str,
                        faults: Faults = Faults()) -> dict[str, Any]:
    """Check every contract parameter bound on `endpoint`; return those given, by canonical name."""
    skip_range = faults.args("accept_out_of_range")
    given: dict[str, Any] = {}
    wires: dict[str, str] = {}
    for param in contract.supported_parameters(endpoint):
        wire = param.binding(endpoint).wire_name
        assert wire is not None  # supported_parameters only yields bound ones
        value = _lookup(body, wire)
        if value is None:
            continue
        _check_type(param, wire, value)
        if param.name not in skip_range and wire not in skip_range:
            _check_range(param, wire, value)
        given[param.name] = value
        wires[param.name] = wire
    for name, value in given.items():
        for other, expected in contract.parameters[name].requires.items():
            other_param = contract.parameters[other]
            other_wire = other_param.binding(endpoint).wire_name
            if other_wire is None:
                continue  # the endpoint spells that condition some other way
            actual = given.get(other, other_param.default if other_param.has_default else None)
            if actual != expected:
                raise RequestRejected(400, f"{wires[name]}: requires {other_wire} to be {describe(expected)}",
                                      wires[name], "invalid_value")
    return given


def _check_model(body: Mapping[str, Any], contract: Contract, faults: Faults) -> str:
    model = body.get("model")
    if model is None:
        raise RequestRejected(400, "model: you must provide a model parameter", "model", "missing_required_parameter")
    if not isinstance(model, str):
        raise RequestRejected(400, f"model: expected a string, got {describe(model)}", "model", "invalid_type")
    if model != contract.model and "unknown_model_accepted" not in faults:
        raise RequestRejected(404, f"The model `{model}` does not exist or you do not have access to it.",
                              None, "model_not_found")
    return model


def _other_value(param: Parameter) -> Any:
    """A valid value that is not the parameter's default: what a misconfigured server would use."""
    if param.type == "boolean":
        return not param.default
    if param.name == "max_tokens":
        return 8  # a server's own short answer cap (llama.cpp's n_predict, say), not the documented one
    if param.type in ("number", "integer") and param.minimum is not None and param.maximum is not None:
        middle = (param.minimum + param.maximum) / 2
        middle = int(middle) if param.type == "integer" else middle
        return middle if middle != param.default else param.maximum
    return param.default


def _misbehave(given: dict[str, Any], contract: Contract, endpoint: str, faults: Faults) -> dict[str, Any]:
    """Faults that accept a parameter and then do not honour it (validation has already passed)."""
    if not faults:
        return given
    bent = dict(given)
    for name in faults.args("ignore_parameter"):
        bent.pop(name, None)
    for name in faults.args("wrong_default"):
        param = contract.parameters.get(name)
        if param is not None and param.has_default and name not in bent:
            bent[name] = _other_value(param)
    if "thinking_off_by_default" in faults and not {"enable_thinking", "reasoning_effort"} & set(bent):
        bent["enable_thinking"] = False
    return bent


def validate_request(body: Any, contract: Contract, endpoint: str, read_conversation: ConversationReader,
                     faults: Faults = Faults()) -> ValidatedRequest:
    if not isinstance(body, Mapping):
        raise RequestRejected(400, f"The request body must be a JSON object, got {describe(body)}.",
                              None, "invalid_json")
    model = _check_model(body, contract, faults)
    conversation = read_conversation(body)
    given = validate_parameters(body, contract, endpoint, faults)
    for combination in faults.args("crash_on_combination"):
        if set(combination.split("+")) <= set(given):
            # A server bug on a valid request: exactly what random valid requests exist to find.
            raise RuntimeError(f"crash_on_combination:{combination}")
    images = [tuple(_decode(image, faults) for image in m.images) for m in conversation.messages]
    pictures = 0 if "image_tokens_uncounted" in faults else sum(
        image_tokens(info) for infos in images for info in infos)
    prompt_tokens = count_prompt_tokens((m.prompt_text for m in conversation.messages), pictures)
    limit = contract.limits.context_tokens
    if prompt_tokens > limit and "context_unenforced" not in faults:
        raise RequestRejected(
            400, f"messages: this model's maximum context length is {limit} tokens, "
                 f"but the messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
            "messages", "context_length_exceeded")
    given = _misbehave(given, contract, endpoint, faults)
    # Tools are a contract parameter like any other: unbound on an endpoint (or dropped by a fault)
    # they are not served there, whatever the body says.
    tools = conversation.tools if given.get("tools") is not None else ()
    parameters = {p.name: p.default for p in contract.supported_parameters(endpoint) if p.has_default}
    parameters.update(given)
    sampling = Sampling.from_parameters(given, contract)
    logprobs = bool(parameters.get("logprobs", False))
    return ValidatedRequest(
        endpoint=endpoint, model=model, messages=conversation.messages,
        stream=conversation.stream, include_usage=conversation.include_usage,
        given=MappingProxyType(given), parameters=MappingProxyType(parameters), sampling=sampling,
        logprobs=logprobs, top_logprobs=given.get("top_logprobs") if logprobs else None,
        tools=tools, tool_choice=conversation.tool_choice if tools else NONE,
        output_format=conversation.output_format, prompt_tokens=prompt_tokens,
        prompt_digest=_digest(conversation.messages, images, faults, endpoint),
    )


def _decode(image: ImageInput, faults: Faults) -> ImageInfo:
    try:
        return decode_image(image.source, image.where)
    except RequestRejected:
        if "image_unchecked" not in faults:
            raise
        # Whatever the client sent still tells images apart, as a lenient server would hash it.
        raw = json.dumps(image.source, sort_keys=True, default=str).encode()
        return ImageInfo(None, None, None, "url", digest=hashlib.blake2b(raw, digest_size=16).hexdigest())


def _digest(messages: tuple[Message, ...], images: list[tuple[ImageInfo, ...]], faults: Faults,
            endpoint: str = "") -> bytes:
    """Each message's role and prompt text, then its images: the answer depends on the pixels."""
    pairs: list[tuple[str, str]] = []
    if endpoint in faults.args("endpoint_drift"):
        pairs.append(("drift", endpoint))  # this endpoint alone answers differently
    for message, infos in zip(messages, images):
        pairs.append((message.role, message.prompt_text))
        if "image_ignored" not in faults:
            # "image" is no role, so an image can never be mistaken for a message.
            pairs += [("image", info.digest) for info in infos]
    return digest_prompt(pairs)
