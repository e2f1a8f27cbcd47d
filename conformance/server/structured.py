"""Structured JSON output: the JSON Schema subset the reference server honours, and values for it.

A hosted model asked for ``response_format`` (Chat Completions, WIRE.md §A.5), ``text.format``
(Responses, §B.5) or ``output_config.format`` (Messages, §C.2 and §F) must answer with JSON text that validates against the client's schema. The toy
model cannot "write" JSON, so this module builds a valid value directly from the schema, drawing
every free choice (which optional properties, how many items, which ``anyOf`` branch, which
number) from a `random.Random` the caller seeds. The same generator produces function-call
arguments (`conformance.server.tools.generate_arguments`).

Supported subset (`SUPPORTED_KEYWORDS`):

* ``type`` (one name or a list of ``object``, ``array``, ``string``, ``number``, ``integer``,
  ``boolean``, ``null``), ``enum``, ``const``, ``default``;
* objects: ``properties``, ``required``, ``additionalProperties`` (``false``, ``true`` or a schema);
* arrays: ``items`` (a single schema), ``minItems``, ``maxItems``;
* strings: ``minLength``, ``maxLength`` (no ``pattern``, no ``format``);
* numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum`` (numeric form);
* composition: ``anyOf``, ``oneOf`` and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``
  or any JSON pointer into the same document, recursion included), each alone in its schema
  apart from annotations and ``$defs``;
* annotations, ignored: ``description``, ``title``, ``$comment``, ``examples``, ``deprecated``,
  ``readOnly``, ``writeOnly``, and ``$schema`` naming draft-06, draft-07, 2019-09 or 2020-12.

Generation rules: required properties are always present, optional ones with probability 1/2;
array lengths and string lengths are uniform within their bounds (at most 3 items / 24
characters beyond the minimum when unbounded, at most 1,000 characters beyond it in any case);
a schema whose smallest value exceeds 200,000 items and characters is refused; unbounded numbers lie in 0..100; a ``default``
that validates is used half the time; ``enum`` draws among the values that validate against the
rest of the schema. Beyond a nesting depth of 6, optional properties and optional items are
left out so recursive schemas terminate. The finished value is checked with `jsonschema`
before it is returned: the generator never hands out JSON that does not validate.

A schema outside the subset, or one no value can satisfy, raises `SchemaError` (a ValueError
naming the keyword and its location, e.g. ``unsupported JSON Schema keyword 'pattern' at
#/properties/city``); request parsing turns that into a 400.
"""
from __future__ import annotations

import copy
import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from conformance.server.errors import RequestRejected
from conformance.server.generator import WORDS

__all__ = [
    "ANNOTATION_KEYWORDS",
    "SUPPORTED_KEYWORDS",
    "TEXT",
    "OutputFormat",
    "SchemaError",
    "check_schema",
    "generate_json",
    "generate_value",
    "parse_output_format_messages",
    "parse_response_format_chat",
    "parse_text_format_responses",
    "unsupported_keywords",
]

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
ANNOTATION_KEYWORDS = frozenset({
    "description", "title", "$comment", "examples", "deprecated", "readOnly", "writeOnly", "$schema",
})
SUPPORTED_KEYWORDS = ANNOTATION_KEYWORDS | frozenset({
    "type", "enum", "const", "default",
    "properties", "required", "additionalProperties",
    "items", "minItems", "maxItems",
    "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "anyOf", "oneOf", "$ref", "$defs", "definitions",
})
# Keywords that may sit beside anyOf/oneOf/$ref. Anything else would have to be intersected with
# the chosen branch, which the generator does not attempt.
_COMPOSITION_SIBLINGS = ANNOTATION_KEYWORDS | {"$defs", "definitions", "default"}
_COMPOSITIONS = ("anyOf", "oneOf", "$ref")
# Within the subset these drafts agree (numeric exclusive bounds, JSON-pointer $ref, no sibling
# keywords beside $ref), so one generator serves them all. Draft-04 differs and is refused.
_DIALECTS = frozenset({
    "json-schema.org/draft-06/schema", "json-schema.org/draft-07/schema",
    "json-schema.org/draft/2019-09/schema", "json-schema.org/draft/2020-12/schema",
})
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")

_SOFT_DEPTH = 6  # from here on, only what the schema requires is generated
_HARD_DEPTH = 48  # a deeper value means a $ref cycle that never bottoms out
_SPAN = 100  # width of the default range of an unbounded number
_EXTRA_ITEMS = 3
_EXTRA_CHARS = 24
# Values plus string characters one answer may hold. A schema can demand any size (minItems
# 10**8, or nested minItems multiplying up); the answer is cut at max_tokens anyway, so past
# this the schema is refused instead of filling the server's memory.
_SIZE_BUDGET = 200_000
_WIDEST_DRAW = 1000


class SchemaError(ValueError):
    """A schema outside the supported subset (code ``unsupported_schema``) or a broken one."""

    def __init__(self, message: str, *, path: str = "#", keyword: str | None = None,
                 code: str = "invalid_schema"):
        where = f" at {path}" if path else ""
        super().__init__(f"{message}{where}")
        self.path = path
        self.keyword = keyword
        self.code = code


class _TooDeep(SchemaError):
    pass


class _TooLarge(SchemaError):
    def __init__(self) -> None:
        super().__init__(f"the schema demands a value larger than {_SIZE_BUDGET} items and characters",
                         code="unsupported_schema")


# ----------------------------------------------------------------------------- checking


def unsupported_keywords(schema: Any) -> list[str]:
    """Names of the keywords in `schema` (at any depth) outside `SUPPORTED_KEYWORDS`, sorted."""
    found: set[str] = set()
    for node, _ in _schema_nodes(schema, "#"):
        found.update(k for k in node if k not in SUPPORTED_KEYWORDS)
    return sorted(found)


def _schema_nodes(node: Any, path: str):
    """Every subschema object reachable without following $ref, with its JSON-pointer path.

    Values of enum/const/default/examples are data, not schemas, so they are not entered.
    """
    if not isinstance(node, Mapping):
        return
    yield node, path
    for key in ("properties", "$defs", "definitions"):
        children = node.get(key)
        if isinstance(children, Mapping):
            for name, child in children.items():
                yield from _schema_nodes(child, f"{path}/{key}/{_escape(str(name))}")
    for key in ("items", "additionalProperties"):
        yield from _schema_nodes(node.get(key), f"{path}/{key}")
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list):
            for i, child in enumerate(branches):
                yield from _schema_nodes(child, f"{path}/{key}/{i}")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def check_schema(schema: Any) -> None:
    """Raise `SchemaError` unless `schema` is inside the subset and satisfiable on its face."""
    if isinstance(schema, bool) or not isinstance(schema, Mapping):
        raise SchemaError(f"a schema must be a JSON object, got {_describe(schema)}")
    nodes = list(_schema_nodes(schema, "#"))
    # Three passes, so each can rely on the ones before: vocabulary, then shapes, then values.
    for node, path in nodes:
        extra = sorted(k for k in node if k not in SUPPORTED_KEYWORDS)
        if extra:
            raise SchemaError(f"unsupported JSON Schema keyword {extra[0]!r}", path=path, keyword=extra[0],
                              code="unsupported_schema")
        if "$schema" in node:
            dialect = node["$schema"]
            normal = re.sub(r"^https?://", "", dialect).rstrip("#") if isinstance(dialect, str) else None
            if path != "#" or normal not in _DIALECTS:
                raise SchemaError(f"$schema: only draft-06, draft-07, 2019-09 and 2020-12 are supported, "
                                  f"and only at the root, got {_describe(dialect)}", path=path,
                                  keyword="$schema", code="unsupported_schema")
    for node, path in nodes:
        _check_node(node, path, schema)
    validator = _validator(schema)
    for node, path in nodes:
        if "enum" in node or "const" in node:
            # Validating against the whole node keeps this honest about type, bounds and $refs alike.
            key = "enum" if "enum" in node else "const"
            listed = node["enum"] if key == "enum" else [node["const"]]
            if not any(validator.evolve(schema=node).is_valid(v) for v in listed):
                raise SchemaError(f"{key}: no listed value satisfies the rest of the schema", path=path,
                                  keyword=key)


def _validator(root: Mapping[str, Any]) -> Any:
    return validator_for(root, default=Draft202012Validator)(root)


def _check_node(node: Mapping[str, Any], path: str, root: Mapping[str, Any]) -> None:
    def fail(keyword: str, why: str, code: str = "invalid_schema") -> SchemaError:
        return SchemaError(f"{keyword}: {why}", path=path, keyword=keyword, code=code)

    kinds = node.get("type")
    if kinds is not None:
        names = kinds if isinstance(kinds, list) else [kinds]
        if not names or any(not isinstance(t, str) or t not in TYPES for t in names) or len(set(names)) < len(names):
            raise fail("type", f"expected one of {', '.join(TYPES)} or a list of them, got {_describe(kinds)}")

    for key in ("properties", "$defs", "definitions"):
        if key in node:
            children = node[key]
            if not isinstance(children, Mapping):
                raise fail(key, f"expected an object of schemas, got {_describe(children)}")
            for name, child in children.items():
                _check_subschema(child, f"{path}/{key}/{_escape(str(name))}")
    if "items" in node:
        if isinstance(node["items"], list):
            raise fail("items", "the array (tuple) form is not supported", "unsupported_schema")
        _check_subschema(node["items"], f"{path}/items")
    if "additionalProperties" in node and not isinstance(node["additionalProperties"], bool):
        _check_subschema(node["additionalProperties"], f"{path}/additionalProperties")
    if "required" in node:
        required = node["required"]
        if (not isinstance(required, list) or any(not isinstance(r, str) for r in required)
                or len(set(required)) < len(required)):
            raise fail("required", f"expected a list of distinct property names, got {_describe(required)}")
        if node.get("additionalProperties") is False:
            missing = [r for r in required if r not in node.get("properties", {})]
            if missing:
                raise fail("required", f"{missing[0]!r} is required but additionalProperties is false and "
                                       f"properties does not define it")
    for key in ("anyOf", "oneOf"):
        if key in node:
            branches = node[key]
            if not isinstance(branches, list) or not branches:
                raise fail(key, f"expected a non-empty list of schemas, got {_describe(branches)}")
            for i, child in enumerate(branches):
                _check_subschema(child, f"{path}/{key}/{i}")
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        raise fail("enum", f"expected a non-empty list, got {_describe(node['enum'])}")

    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        if key in node:
            value = node[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise fail(key, f"expected a non-negative integer, got {_describe(value)}")
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in node:
            value = node[key]
            # Draft-04's boolean exclusive bounds mean something else; 1e400 parses to inf.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise fail(key, f"expected a finite number, got {_describe(value)}")

    compositions = [k for k in _COMPOSITIONS if k in node]
    if compositions:
        others = sorted(k for k in node if k not in _COMPOSITION_SIBLINGS and k != compositions[0])
        if others:
            raise fail(compositions[0], f"cannot be combined with {others[0]!r} in the same schema",
                       "unsupported_schema")
    if "$ref" in node:
        _follow_refs(node, path, root)

    _check_ranges(node, fail)


def _check_subschema(child: Any, path: str) -> None:
    if child is True:
        return
    if not isinstance(child, Mapping):
        # `false` (nothing validates) is only meaningful as additionalProperties, handled apart.
        raise SchemaError(f"expected a schema object, got {_describe(child)}", path=path)


def _check_ranges(node: Mapping[str, Any], fail) -> None:
    kinds = _types(node)
    if "minLength" in node and "maxLength" in node and node["minLength"] > node["maxLength"]:
        raise fail("minLength", f"{node['minLength']} exceeds maxLength {node['maxLength']}")
    if "minItems" in node and "maxItems" in node and node["minItems"] > node["maxItems"]:
        raise fail("minItems", f"{node['minItems']} exceeds maxItems {node['maxItems']}")
    if "integer" in kinds and "number" not in kinds:
        lo, hi = _integer_range(node)
        if lo > hi:
            raise fail("minimum", "no integer lies within the bounds")
    elif any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        lo, lo_open, hi, hi_open = _number_bounds(node)
        if lo > hi or (lo == hi and (lo_open or hi_open)):
            raise fail("minimum", "no number lies within the bounds")


def _follow_refs(node: Mapping[str, Any], path: str, root: Mapping[str, Any]) -> None:
    """Resolve a $ref chain, refusing remote refs, dangling pointers and pure cycles."""
    seen: list[str] = []
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(f"$ref: only local references ('#/...') are supported, got {_describe(ref)}",
                              path=path, keyword="$ref", code="unsupported_schema")
        if ref in seen:
            raise SchemaError(f"$ref: {ref!r} refers to itself without any schema in between",
                              path=path, keyword="$ref")
        seen.append(ref)
        node = _resolve(root, ref, path)


def _resolve(root: Mapping[str, Any], ref: str, path: str = "#") -> Mapping[str, Any]:
    target: Any = root
    pointer = ref[1:]
    if pointer and not pointer.startswith("/"):
        raise SchemaError(f"$ref: {ref!r} is not a JSON pointer ('$anchor' refs are not supported)",
                          path=path, keyword="$ref", code="unsupported_schema")
    for token in pointer.split("/")[1:]:
        token = _unescape(token)
        if isinstance(target, Mapping) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            raise SchemaError(f"$ref: {ref!r} does not resolve", path=path, keyword="$ref")
    if target is True:
        return {}
    if not isinstance(target, Mapping):
        raise SchemaError(f"$ref: {ref!r} does not point at a schema", path=path, keyword="$ref")
    return target


# ----------------------------------------------------------------------------- generation


def _types(node: Mapping[str, Any]) -> list[str]:
    """The types a value for `node` may take: declared, or inferred from type-specific keywords."""
    kinds = node.get("type")
    if kinds is not None:
        return list(kinds) if isinstance(kinds, list) else [kinds]
    for kind, keys in (("object", ("properties", "required", "additionalProperties")),
                       ("array", ("items", "minItems", "maxItems")),
                       ("string", ("minLength", "maxLength")),
                       ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"))):
        if any(k in node for k in keys):
            return [kind]
    return []


def _integer_range(node: Mapping[str, Any]) -> tuple[int, int]:
    lo: int | None = None
    hi: int | None = None
    if "minimum" in node:
        lo = math.ceil(node["minimum"])
    if "exclusiveMinimum" in node:
        bound = math.floor(node["exclusiveMinimum"]) + 1
        lo = bound if lo is None else max(lo, bound)
    if "maximum" in node:
        hi = math.floor(node["maximum"])
    if "exclusiveMaximum" in node:
        bound = math.ceil(node["exclusiveMaximum"]) - 1
        hi = bound if hi is None else min(hi, bound)
    if lo is None and hi is None:
        return 0, _SPAN
    if lo is None:
        return hi - _SPAN, hi  # type: ignore[operator]
    if hi is None:
        return lo, lo + _SPAN
    return lo, hi


def _number_bounds(node: Mapping[str, Any]) -> tuple[float, bool, float, bool]:
    """(low, low is exclusive, high, high is exclusive), the tighter bound winning on each side."""
    lo: float | None = None
    hi: float | None = None
    lo_open = hi_open = False
    if "minimum" in node:
        lo = node["minimum"]
    if "exclusiveMinimum" in node and (lo is None or node["exclusiveMinimum"] >= lo):
        lo, lo_open = node["exclusiveMinimum"], True
    if "maximum" in node:
        hi = node["maximum"]
    if "exclusiveMaximum" in node and (hi is None or node["exclusiveMaximum"] <= hi):
        hi, hi_open = node["exclusiveMaximum"], True
    if lo is None and hi is None:
        return 0, False, _SPAN, False
    if lo is None:
        return _away(hi, -_SPAN), False, hi, hi_open  # type: ignore[arg-type]
    if hi is None:
        return lo, lo_open, _away(lo, _SPAN), False
    return lo, lo_open, hi, hi_open


def _away(bound: float, step: float) -> float:
    """`bound` + `step`, or the next float that way when `step` vanishes in rounding (|bound| ~ 1e308)."""
    moved = bound + step
    if moved == bound or not math.isfinite(moved):
        return math.nextafter(bound, math.copysign(math.inf, step))
    return moved


class _Generator:
    def __init__(self, root: Mapping[str, Any], rng: random.Random):
        self.root = root
        self.rng = rng
        self.validator = _validator(root)
        self.spent = 0  # against _SIZE_BUDGET

    def spend(self, units: int) -> None:
        # Charged before the value is built, so an absurd minimum fails before it allocates.
        self.spent += units
        if self.spent > _SIZE_BUDGET:
            raise _TooLarge()

    def valid(self, value: Any, node: Mapping[str, Any]) -> bool:
        # evolve keeps the root's resolver, so $refs inside `node` still resolve.
        return self.validator.evolve(schema=node).is_valid(value)

    def value(self, node: Any, depth: int) -> Any:
        if depth > _HARD_DEPTH:
            raise _TooDeep(f"the schema nests deeper than {_HARD_DEPTH} levels (a $ref cycle with no way out?)")
        self.spend(1)
        if node is True or not node:
            return self.text(0, _EXTRA_CHARS)
        if "default" in node and self.rng.random() < 0.5 and self.valid(node["default"], node):
            return copy.deepcopy(node["default"])
        if "$ref" in node:
            return self.value(_resolve(self.root, node["$ref"]), depth + 1)
        if "anyOf" in node:
            return self.any_of(node["anyOf"], depth)
        if "oneOf" in node:
            return self.one_of(node["oneOf"], depth)
        if "const" in node:
            return copy.deepcopy(node["const"])
        if "enum" in node:
            fitting = [v for v in node["enum"] if self.valid(v, node)]
            return copy.deepcopy(self.rng.choice(fitting))
        kinds = _types(node)
        if not kinds:
            return self.text(0, _EXTRA_CHARS)
        kind = kinds[0] if len(kinds) == 1 else self.rng.choice(kinds)
        if kind == "object":
            return self.object(node, depth)
        if kind == "array":
            return self.array(node, depth)
        if kind == "string":
            lo = node.get("minLength", 0)
            return self.text(lo, node.get("maxLength", lo + _EXTRA_CHARS))
        if kind == "integer":
            lo, hi = _integer_range(node)
            return self.rng.randint(lo, hi)
        if kind == "number":
            return self.number(node)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def any_of(self, branches: list[Any], depth: int) -> Any:
        # Random branch first; the others only rescue a branch that recursed without end.
        order = list(range(len(branches)))
        self.rng.shuffle(order)
        for n, i in enumerate(order):
            try:
                return self.value(branches[i], depth + 1)
            except _TooDeep:
                if n == len(order) - 1:
                    raise
        raise AssertionError("unreachable")

    def one_of(self, branches: list[Any], depth: int) -> Any:
        order = list(range(len(branches)))
        self.rng.shuffle(order)
        for i in order:
            for _ in range(3):
                try:
                    candidate = self.value(branches[i], depth + 1)
                except _TooDeep:
                    break
                if sum(self.valid(candidate, b) for b in branches) == 1:
                    return candidate
        raise SchemaError("oneOf: could not produce a value matching exactly one branch "
                          "(do the branches overlap?)", keyword="oneOf")

    def object(self, node: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = node.get("properties", {})
        required: list[str] = node.get("required", [])
        extra = node.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in required or (depth < _SOFT_DEPTH and self.rng.random() < 0.5):
                out[name] = self.value(sub, depth + 1)
        for name in required:
            if name not in out:
                # check_schema guarantees additionalProperties is not false here.
                out[name] = self.value(extra if isinstance(extra, Mapping) else True, depth + 1)
        return out

    def array(self, node: Mapping[str, Any], depth: int) -> list[Any]:
        lo = node.get("minItems", 0)
        hi = node.get("maxItems", lo + _EXTRA_ITEMS)
        count = lo if depth >= _SOFT_DEPTH else self.rng.randint(lo, min(hi, lo + _EXTRA_ITEMS))
        items = node.get("items", True)
        self.spend(count)
        return [self.value(items, depth + 1) for _ in range(count)]

    def text(self, lo: int, hi: int) -> str:
        # Non-empty when allowed: an empty string is valid but tells a client very little.
        # A huge maxLength is no reason to write a novel: draw within 1,000 characters of the minimum.
        length = self.rng.randint(min(max(lo, 1), hi), min(hi, lo + _WIDEST_DRAW))
        self.spend(length)
        words: list[str] = []
        size = -1
        while size < length:
            words.append(self.rng.choice(WORDS))
            size += len(words[-1]) + 1
        text = " ".join(words)[:length]
        return text[:-1] + "s" if text.endswith(" ") else text

    def number(self, node: Mapping[str, Any]) -> float:
        lo, lo_open, hi, hi_open = _number_bounds(node)

        def fits(x: float) -> bool:
            return (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)

        span = hi - lo
        candidates = [lo / 2 + hi / 2, lo, hi]  # halves first: lo + hi may overflow
        if math.isfinite(span):
            candidates.insert(0, round(lo + span * self.rng.random(), 2))
        for candidate in candidates:
            # Rounding can land on an exclusive bound, or off a range only one float wide.
            if fits(candidate):
                return candidate
        raise SchemaError("no number lies within the bounds", keyword="minimum")


def generate_value(schema: Mapping[str, Any], rng: random.Random) -> Any:
    """A JSON value (Python data) that validates against `schema`; `SchemaError` if none can be made."""
    check_schema(schema)
    generator = _Generator(schema, rng)
    value = generator.value(schema, 0)
    if not generator.validator.is_valid(value):
        # A safety net for interactions the subset's rules do not foresee, never a silent bad answer.
        error = next(generator.validator.iter_errors(value))
        raise SchemaError(f"could not generate a value that validates ({error.message})",
                          path="#" + "".join(f"/{_escape(str(p))}" for p in error.absolute_schema_path))
    return value


# ----------------------------------------------------------------------------- request formats


@dataclass(frozen=True)
class OutputFormat:
    """What shape the answer text must take, protocol-neutral."""

    kind: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False
    description: str | None = None

    @property
    def is_json(self) -> bool:
        return self.kind != "text"


TEXT = OutputFormat("text")
_FORMAT_KINDS = ("text", "json_object", "json_schema")


def parse_response_format_chat(raw: Any) -> OutputFormat:
    """Chat Completions ``response_format``: the schema fields nest under ``json_schema``."""
    if raw is None:
        return TEXT
    kind = _format_kind(raw, "response_format")
    if kind != "json_schema":
        return OutputFormat(kind)
    inner = raw.get("json_schema")
    where = "response_format.json_schema"
    if inner is None:
        raise RequestRejected(400, f"{where}: required when response_format.type is 'json_schema'", where,
                              "missing_required_parameter")
    if not isinstance(inner, Mapping):
        raise RequestRejected(400, f"{where}: expected an object, got {_describe(inner)}", where, "invalid_type")
    return _json_schema_format(inner, where, "response_format")


def parse_text_format_responses(raw: Any) -> OutputFormat:
    """Responses ``text.format`` (pass the ``format`` object itself): the schema fields are flat."""
    if raw is None:
        return TEXT
    kind = _format_kind(raw, "text.format")
    if kind != "json_schema":
        return OutputFormat(kind)
    return _json_schema_format(raw, "text.format", "text.format")


def parse_output_format_messages(output_config: Any) -> OutputFormat:
    """Messages ``output_config.format`` (pass the ``output_config`` object): ``{"type": "json_schema", "schema"}``.

    WIRE.md §F gives this as the Messages spelling of JSON-schema output. The seed only promises
    "structured JSON output", so the contract treats this field on /v1/messages as an assumption
    to confirm on a live run. There is no ``name`` and no ``json_object`` mode here.
    """
    if output_config is None:
        return TEXT
    if not isinstance(output_config, Mapping):
        raise RequestRejected(400, f"output_config: expected an object, got {_describe(output_config)}",
                              "output_config", "invalid_type")
    raw = output_config.get("format")
    where = "output_config.format"
    if raw is None:
        return TEXT
    if not isinstance(raw, Mapping):
        raise RequestRejected(400, f"{where}: expected an object, got {_describe(raw)}", where, "invalid_type")
    if raw.get("type") != "json_schema":
        raise RequestRejected(400, f"{where}.type: {_describe(raw.get('type'))} is not 'json_schema'",
                              f"{where}.type", "invalid_value")
    schema = raw.get("schema")
    if not isinstance(schema, Mapping):
        raise RequestRejected(400, f"{where}.schema: expected a JSON Schema object, got {_describe(schema)}",
                              f"{where}.schema", "invalid_type" if schema is not None else "missing_required_parameter")
    try:
        check_schema(schema)
    except SchemaError as exc:
        raise RequestRejected(400, f"{where}: invalid schema: {exc}", where, exc.code) from None
    return OutputFormat("json_schema", schema=dict(schema))


def _format_kind(raw: Any, where: str) -> Literal["text", "json_object", "json_schema"]:
    if not isinstance(raw, Mapping):
        raise RequestRejected(400, f"{where}: expected an object, got {_describe(raw)}", where, "invalid_type")
    kind = raw.get("type")
    if kind is None:
        raise RequestRejected(400, f"{where}.type: required", f"{where}.type", "missing_required_parameter")
    if kind not in _FORMAT_KINDS:
        raise RequestRejected(400, f"{where}.type: {_describe(kind)} is not one of {', '.join(_FORMAT_KINDS)}",
                              f"{where}.type", "invalid_value")
    return kind


def _json_schema_format(fields: Mapping[str, Any], where: str, schema_param: str) -> OutputFormat:
    name = fields.get("name")
    if name is None:
        raise RequestRejected(400, f"{where}.name: required", f"{where}.name", "missing_required_parameter")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestRejected(400, f"{where}.name: {_describe(name)} must be 1 to 64 letters, digits, "
                                   f"underscores or dashes", f"{where}.name", "invalid_value")
    description = fields.get("description")
    if description is not None and not isinstance(description, str):
        raise RequestRejected(400, f"{where}.description: expected a string, got {_describe(description)}",
                              f"{where}.description", "invalid_type")
    strict = fields.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise RequestRejected(400, f"{where}.strict: expected a boolean, got {_describe(strict)}",
                              f"{where}.strict", "invalid_type")
    schema = fields.get("schema")
    if schema is None:
        raise RequestRejected(400, f"{where}.schema: required", f"{where}.schema", "missing_required_parameter")
    if not isinstance(schema, Mapping):
        raise RequestRejected(400, f"{where}.schema: expected a JSON Schema object, got {_describe(schema)}",
                              f"{where}.schema", "invalid_type")
    try:
        check_schema(schema)
    except SchemaError as exc:
        # OpenAI names the whole format as the param of a schema problem, not the schema path.
        raise RequestRejected(400, f"{schema_param}: invalid schema for {name!r}: {exc}", schema_param,
                              exc.code) from None
    return OutputFormat("json_schema", name=name, schema=dict(schema), strict=bool(strict),
                        description=description)


def generate_json(fmt: OutputFormat, rng: random.Random, param: str = "response_format") -> str:
    """Compact JSON text satisfying `fmt` (``json_object``: a small object of 1-3 fields).

    `param` names the request field a schema problem is reported against (``response_format``
    or ``text.format``).
    """
    if fmt.kind == "text":
        raise ValueError("a text format has no JSON to generate")
    if fmt.kind == "json_object":
        keys = rng.sample(WORDS, rng.randint(1, 3))
        value: Any = {k: _small_scalar(rng) for k in keys}
    else:
        try:
            value = generate_value(fmt.schema or {}, rng)
        except SchemaError as exc:
            named = f" for {fmt.name!r}" if fmt.name else ""
            raise RequestRejected(400, f"{param}: invalid schema{named}: {exc}", param, exc.code) from None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _small_scalar(rng: random.Random) -> Any:
    pick = rng.randrange(3)
    if pick == 0:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
    if pick == 1:
        return rng.randint(0, _SPAN)
    return rng.random() < 0.5


def _describe(value: Any) -> str:
    # Same rendering as validation.describe, kept local: validation will import this module.
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
