"""Function tools: the three protocols' spellings of a tool and of tool_choice, and tool calls.

Parsing turns each protocol's shape into the same neutral `FunctionTool` / `ToolChoice`
(WIRE.md §A.4, §B.4, §C.4, §F):

* Chat Completions: ``{"type": "function", "function": {name, description?, parameters?, strict?}}``;
  tool_choice ``"none" | "auto" | "required" | {"type": "function", "function": {"name"}}``.
* Responses: ``{"type": "function", name, description?, parameters, strict}`` (flat);
  tool_choice ``"none" | "auto" | "required" | {"type": "function", "name"}``.
* Anthropic Messages: ``{name, description?, input_schema, type?: "custom"}``;
  tool_choice ``{"type": "auto" | "any" | "none"}`` or ``{"type": "tool", "name"}``
  (``any`` is ``required``, ``tool`` is ``named``).

Rules shared by all three: a tool name matches ``^[a-zA-Z0-9_-]{1,64}$`` and is unique in the
list; the parameter schema is a JSON object with ``"type": "object"`` inside the JSON Schema
subset of `conformance.server.structured` (checked here, so a schema the generator cannot satisfy
is a 400 at request time, never a 500 at generation time); a missing or null parameter schema
(OpenAI shapes only) means "no parameters". A named or required tool_choice needs tools, and a
named one must name one of them; ``none``/``auto`` without tools are accepted and call nothing.
When tool_choice is omitted it is ``auto`` if tools were given, else ``none`` (as on OpenAI and
Anthropic). Only function tools exist here: custom, hosted and server tools are refused.
``strict`` is recorded but changes nothing, since generated arguments always validate.
Malformed input raises `RequestRejected` (400) whose message starts with the wire path of the
offending field, e.g. ``tools[1].function.name``.

`decide_tool_call` is the toy model's decision; `generate_arguments` fills the call with a
JSON object that validates against the tool's schema; `call_id` makes the ids; `ToolCall` is
the call an answer makes, with what each protocol spells it from.
"""
from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.server.errors import RequestRejected
from conformance.server.structured import SchemaError, check_schema, generate_value
from conformance.server.tokens import count_tokens, split_pieces

__all__ = [
    "ANTHROPIC_TOOL_USE_PREFIX", "CHAT_CALL_PREFIX", "RESPONSES_ITEM_PREFIX", "FunctionTool",
    "ToolCall", "ToolChoice", "call_id", "decide_tool_call", "encode_arguments", "generate_arguments",
    "parse_anthropic_tool_choice", "parse_anthropic_tools", "parse_openai_tool_choice",
    "parse_openai_tools", "parse_responses_tool_choice", "parse_responses_tools", "tool_keywords",
]

NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # used with fullmatch: '$' would accept a trailing newline
CHAT_CALL_PREFIX = "call_"  # Chat tool_calls[].id and Responses function_call.call_id
RESPONSES_ITEM_PREFIX = "fc_"  # Responses function_call item id
ANTHROPIC_TOOL_USE_PREFIX = "toolu_"
_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24
_EMPTY_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}

ChoiceMode = Literal["auto", "none", "required", "named"]


@dataclass(frozen=True)
class FunctionTool:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: dict(_EMPTY_OBJECT))
    strict: bool = False


@dataclass(frozen=True)
class ToolChoice:
    mode: ChoiceMode
    name: str | None = None  # set exactly when mode == "named"

    def __post_init__(self) -> None:
        if (self.mode == "named") != (self.name is not None):
            raise ValueError("ToolChoice.name is set exactly when mode is 'named'")


@dataclass(frozen=True)
class ToolCall:
    """A tool call an answer makes, protocol-neutral."""

    id: str  # call_... (Chat, and the Responses call_id) or toolu_... (Messages)
    item_id: str  # fc_...: the id of the Responses function_call output item
    name: str
    arguments: str  # JSON text, as the OpenAI protocols carry it (faults may make it something else)

    @property
    def input(self) -> Any:
        """Messages' ``input``: the decoded arguments; the raw text itself when it is not JSON."""
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments

    def fragments(self, text: str | None = None) -> list[str]:
        """`text` (the arguments by default) in the pieces a stream sends, one token each."""
        return split_pieces(self.arguments if text is None else text)

    @property
    def tokens(self) -> int:
        """Output tokens the call costs: its name and its arguments."""
        return count_tokens(self.name) + count_tokens(self.arguments)


AUTO = ToolChoice("auto")
NONE = ToolChoice("none")
REQUIRED = ToolChoice("required")


# ----------------------------------------------------------------------------- tools


def parse_openai_tools(raw: Any) -> list[FunctionTool]:
    """Chat Completions ``tools``: each ``{"type": "function", "function": {...}}``."""
    tools: list[FunctionTool] = []
    for i, item in enumerate(_tool_list(raw)):
        where = f"tools[{i}]"
        _require_type(item, where, "function")
        function = item.get("function")
        if function is None:
            raise _missing(f"{where}.function")
        if not isinstance(function, Mapping):
            raise _bad_type(f"{where}.function", "an object", function)
        tools.append(_function_tool(function, f"{where}.function", "parameters", optional_schema=True,
                                    default_strict=False))
    return _unique(tools, lambda i: f"tools[{i}].function.name")


def parse_responses_tools(raw: Any) -> list[FunctionTool]:
    """Responses ``tools``: each ``{"type": "function", name, description, parameters, strict}``."""
    tools: list[FunctionTool] = []
    for i, item in enumerate(_tool_list(raw)):
        where = f"tools[{i}]"
        _require_type(item, where, "function")
        # Responses marks functions strict unless told otherwise (WIRE.md §B.4).
        tools.append(_function_tool(item, where, "parameters", optional_schema=True, default_strict=True))
    return _unique(tools, lambda i: f"tools[{i}].name")


def parse_anthropic_tools(raw: Any) -> list[FunctionTool]:
    """Messages ``tools``: each ``{name, description?, input_schema}`` (``type`` absent or ``custom``)."""
    tools: list[FunctionTool] = []
    for i, item in enumerate(_tool_list(raw)):
        where = f"tools[{i}]"
        kind = item.get("type")
        if kind is not None and kind != "custom":
            # Versioned server tools (web_search_20250305, bash_20250124, ...) are not served here.
            raise RequestRejected(400, f"{where}.type: {_describe(kind)} is not supported; only client tools "
                                       f"(type absent or 'custom') are", f"{where}.type", "invalid_value")
        tools.append(_function_tool(item, where, "input_schema", optional_schema=False, default_strict=False))
    return _unique(tools, lambda i: f"tools[{i}].name")


def _tool_list(raw: Any) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad_type("tools", "an array of tools", raw)
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise _bad_type(f"tools[{i}]", "a tool object", item)
    return raw


def _require_type(item: Mapping[str, Any], where: str, expected: str) -> None:
    kind = item.get("type")
    if kind is None:
        raise _missing(f"{where}.type")
    if kind != expected:
        raise RequestRejected(400, f"{where}.type: {_describe(kind)} is not supported; only {expected!r} tools are",
                              f"{where}.type", "invalid_value")


def _function_tool(fields: Mapping[str, Any], where: str, schema_key: str, *, optional_schema: bool,
                   default_strict: bool) -> FunctionTool:
    name = _name(fields.get("name"), f"{where}.name")
    description = fields.get("description")
    if description is not None and not isinstance(description, str):
        raise _bad_type(f"{where}.description", "a string", description)
    strict = fields.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _bad_type(f"{where}.strict", "a boolean", strict)
    schema_where = f"{where}.{schema_key}"
    schema = fields.get(schema_key)
    if schema is None:
        if not optional_schema:
            raise _missing(schema_where)
        schema = dict(_EMPTY_OBJECT)
    _check_parameters(schema, schema_where)
    return FunctionTool(name=name, description=description or "", parameters=dict(schema),
                        strict=default_strict if strict is None else strict)


def _name(name: Any, where: str) -> str:
    if name is None:
        raise _missing(where)
    if not isinstance(name, str):
        raise _bad_type(where, "a string", name)
    if not NAME_PATTERN.fullmatch(name):
        raise RequestRejected(400, f"{where}: {_describe(name)} must be 1 to 64 letters, digits, underscores "
                                   f"or dashes", where, "invalid_value")
    return name


def _check_parameters(schema: Any, where: str) -> None:
    if not isinstance(schema, Mapping):
        raise _bad_type(where, "a JSON Schema object", schema)
    if schema.get("type") != "object":
        raise RequestRejected(400, f"{where}: the schema must have type 'object', got "
                                   f"{_describe(schema.get('type'))}", where, "invalid_value")
    try:
        check_schema(schema)
    except SchemaError as exc:
        raise RequestRejected(400, f"{where}: {exc}", where, exc.code) from None


def _unique(tools: list[FunctionTool], where) -> list[FunctionTool]:
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if tool.name in seen:
            raise RequestRejected(400, f"{where(i)}: {tool.name!r} is defined more than once; tool names must "
                                       f"be unique", where(i), "invalid_value")
        seen.add(tool.name)
    return tools


# ----------------------------------------------------------------------------- tool_choice


def parse_openai_tool_choice(raw: Any, tools: Sequence[FunctionTool]) -> ToolChoice:
    """Chat Completions ``tool_choice``; the named form is ``{"type": "function", "function": {"name"}}``."""
    if raw is None or isinstance(raw, str):
        return _string_choice(raw, tools)
    if not isinstance(raw, Mapping):
        raise _bad_type("tool_choice", "a string or an object", raw)
    _choice_type(raw, ("function",))
    function = raw.get("function")
    if function is None:
        raise _missing("tool_choice.function")
    if not isinstance(function, Mapping):
        raise _bad_type("tool_choice.function", "an object", function)
    return _named(function.get("name"), "tool_choice.function.name", tools)


def parse_responses_tool_choice(raw: Any, tools: Sequence[FunctionTool]) -> ToolChoice:
    """Responses ``tool_choice``; the named form is flat: ``{"type": "function", "name"}``."""
    if raw is None or isinstance(raw, str):
        return _string_choice(raw, tools)
    if not isinstance(raw, Mapping):
        raise _bad_type("tool_choice", "a string or an object", raw)
    _choice_type(raw, ("function",))
    return _named(raw.get("name"), "tool_choice.name", tools)


def parse_anthropic_tool_choice(raw: Any, tools: Sequence[FunctionTool]) -> ToolChoice:
    """Messages ``tool_choice``: always an object, ``{"type": "auto" | "any" | "tool" | "none"}``."""
    if raw is None:
        return AUTO if tools else NONE
    if not isinstance(raw, Mapping):
        raise _bad_type("tool_choice", "an object", raw)
    kind = _choice_type(raw, ("auto", "any", "tool", "none"))
    flag = raw.get("disable_parallel_tool_use")
    if flag is not None and not isinstance(flag, bool):
        raise _bad_type("tool_choice.disable_parallel_tool_use", "a boolean", flag)
    if kind == "tool":
        return _named(raw.get("name"), "tool_choice.name", tools)
    if kind == "any":
        _need_tools(tools, "any")
        return REQUIRED
    return AUTO if kind == "auto" else NONE


def _string_choice(raw: str | None, tools: Sequence[FunctionTool]) -> ToolChoice:
    if raw is None:
        return AUTO if tools else NONE
    if raw not in ("none", "auto", "required"):
        raise RequestRejected(400, f"tool_choice: {_describe(raw)} is not one of none, auto, required or an "
                                   f"object naming a function", "tool_choice", "invalid_value")
    if raw == "required":
        _need_tools(tools, raw)
    return ToolChoice(raw)  # type: ignore[arg-type]


def _choice_type(raw: Mapping[str, Any], allowed: tuple[str, ...]) -> str:
    kind = raw.get("type")
    if kind is None:
        raise _missing("tool_choice.type")
    if kind not in allowed:
        raise RequestRejected(400, f"tool_choice.type: {_describe(kind)} is not one of {', '.join(allowed)}",
                              "tool_choice.type", "invalid_value")
    return kind


def _named(name: Any, where: str, tools: Sequence[FunctionTool]) -> ToolChoice:
    name = _name(name, where)
    if name not in {t.name for t in tools}:
        known = ", ".join(t.name for t in tools) or "none"
        raise RequestRejected(400, f"{where}: {name!r} is not among the tools given (tools: {known})", where,
                              "invalid_value")
    return ToolChoice("named", name)


def _need_tools(tools: Sequence[FunctionTool], value: str) -> None:
    if not tools:
        raise RequestRejected(400, f"tool_choice: {value!r} is only allowed when tools are specified",
                              "tool_choice", "invalid_value")


# ----------------------------------------------------------------------------- calling

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MIN_KEYWORD = 4
# Words of four letters or more that say nothing about what a tool is for.
_STOPWORDS = frozenset((
    "about", "above", "after", "again", "against", "also", "among", "another", "because", "been", "before",
    "being", "below", "between", "both", "call", "called", "calls", "could", "does", "doing", "down", "during",
    "each", "either", "else", "every", "from", "function", "further", "given", "have", "having", "here",
    "into", "itself", "just", "like", "make", "many", "more", "most", "much", "must", "only", "other", "over",
    "same", "should", "some", "such", "than", "that", "their", "them", "then", "there", "these", "they",
    "this", "those", "through", "tool", "tools", "under", "until", "upon", "used", "uses", "using", "very",
    "want", "what", "when", "where", "which", "while", "will", "with", "within", "without", "would", "your",
))


def tool_keywords(tool: FunctionTool) -> frozenset[str]:
    """The words `decide_tool_call` matches a prompt against: from the name and the description."""
    text = _CAMEL.sub(" ", tool.name) + " " + tool.description
    return frozenset(w for w in _WORD.findall(text.lower()) if len(w) >= _MIN_KEYWORD and w not in _STOPWORDS)


def decide_tool_call(tools: Sequence[FunctionTool], choice: ToolChoice, prompt_text: str,
                     rng: random.Random) -> FunctionTool | None:
    """Which tool the toy model calls, if any.

    * ``none`` (or no tools): no call.
    * ``named``: that tool.
    * ``auto``: the tool the prompt mentions best, else no call. A tool is mentioned when the
      prompt contains its name verbatim (case-insensitive) or shares a keyword with it
      (`tool_keywords`: words of 4+ letters from its name and description, minus stop words;
      ``get_weather`` matches "What's the weather in Paris?"). A verbatim name beats keywords,
      more shared keywords beat fewer, and ties go to the earlier tool.
    * ``required``: the tool ``auto`` would pick; when the prompt mentions none, one drawn
      from `rng`.

    Callers choose `prompt_text`; passing the latest user turn (and no text at all once the
    conversation ends in a tool result) keeps ``auto`` from calling the same tool forever.
    """
    if choice.mode == "none" or not tools:
        if choice.mode in ("required", "named"):
            raise ValueError(f"tool_choice {choice.mode!r} needs tools")
        return None
    if choice.mode == "named":
        for tool in tools:
            if tool.name == choice.name:
                return tool
        raise ValueError(f"tool_choice names {choice.name!r}, which is not among the tools")
    mentioned = _best_mentioned(tools, prompt_text)
    if mentioned is not None or choice.mode == "auto":
        return mentioned
    return rng.choice(list(tools))


def _best_mentioned(tools: Sequence[FunctionTool], prompt_text: str) -> FunctionTool | None:
    lowered = prompt_text.lower()
    words = set(_WORD.findall(lowered))
    best: FunctionTool | None = None
    best_score = (False, 0)
    for tool in tools:
        score = (tool.name.lower() in lowered, len(tool_keywords(tool) & words))
        if score > best_score:  # strict: an equal score keeps the earlier tool
            best, best_score = tool, score
    return best


def generate_arguments(schema: Mapping[str, Any] | None, rng: random.Random) -> dict[str, Any]:
    """A JSON object validating against `schema` (see `conformance.server.structured` for the subset).

    Raises `SchemaError` (a ValueError naming the keyword) for a schema outside the subset, one
    no value satisfies, or a root that is not an object schema.
    """
    if schema is None or not schema:
        return {}
    if schema.get("type") != "object":
        raise SchemaError(f"type: tool parameters must be an object schema, got {_describe(schema.get('type'))}",
                          keyword="type")
    value = generate_value(schema, rng)
    assert isinstance(value, dict)  # type object, and generate_value validated it
    return value


def encode_arguments(arguments: Mapping[str, Any]) -> str:
    """Arguments as the OpenAI protocols carry them: a compact JSON string."""
    return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)


def call_id(prefix: str, rng: random.Random) -> str:
    """``prefix`` + 24 base62 characters from `rng`: ``call_…``, ``fc_…`` or ``toolu_…``.

    Drawn from the request's seeded rng rather than uuid4, so a seeded request repeats its ids
    as well as its text.
    """
    return prefix + "".join(rng.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


# ----------------------------------------------------------------------------- errors


def _missing(where: str) -> RequestRejected:
    return RequestRejected(400, f"{where}: required", where, "missing_required_parameter")


def _bad_type(where: str, expected: str, value: Any) -> RequestRejected:
    return RequestRejected(400, f"{where}: expected {expected}, got {_describe(value)}", where, "invalid_type")


def _describe(value: Any) -> str:
    # Same rendering as validation.describe, kept local: validation will import this module.
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
