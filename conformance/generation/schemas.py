"""Hypothesis strategies for JSON Schemas inside a declared subset.

The contract says which JSON Schema a structured-output request may carry
(``expectations.structured_output`` in the suite: the keywords, how deep, whether the root must
be an object, whether schemas may leave a value unconstrained). `root_schemas(subset)` draws
schemas that use nothing else, so a server that rejects or breaks one has broken a promise,
not met an exotic schema. Every schema drawn is satisfiable: bounds leave room for a value,
``required`` never names a property that ``additionalProperties: false`` forbids, ``oneOf``
branches never overlap, and recursion through ``$ref`` has an optional way out.

The reference server's own tests draw from `FULL_SUBSET` (everything its generator supports).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.suite.model import Contract

__all__ = ["FULL_SUBSET", "LINKED", "SchemaSubset", "json_type", "root_schemas", "schema_subset", "schemas"]

PROPERTY_NAMES = ("a", "b", "c", "d", "e")
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                    st.floats(-1e6, 1e6, allow_nan=False), st.text("abxyz ", max_size=6))

# A recursive definition: terminates because `next` is optional.
LINKED = {"type": "object", "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/linked"}},
          "required": ["value"]}


@dataclass(frozen=True)
class SchemaSubset:
    """Which JSON Schemas may be drawn."""

    keywords: frozenset[str]
    max_depth: int = 3
    object_root: bool = False
    # False: every value is constrained: no `{}`, objects closed (`additionalProperties: false`
    # where the keyword is allowed), `required` naming only defined properties.
    unconstrained: bool = True

    def allows(self, *keywords: str) -> bool:
        return all(k in self.keywords for k in keywords)


FULL_SUBSET = SchemaSubset(frozenset({
    "type", "enum", "const", "default", "properties", "required", "additionalProperties", "items",
    "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "anyOf", "oneOf", "$ref", "$defs", "description", "title",
}))


def schema_subset(contract: Contract) -> SchemaSubset:
    """The subset the contract declares (``expectations.structured_output``), else `FULL_SUBSET`."""
    declared = contract.expectations.get("structured_output") or {}
    return SchemaSubset(
        keywords=frozenset(declared.get("keywords", FULL_SUBSET.keywords)),
        max_depth=int(declared.get("max_depth", FULL_SUBSET.max_depth)),
        object_root=bool(declared.get("object_root", FULL_SUBSET.object_root)),
        unconstrained=bool(declared.get("unconstrained", FULL_SUBSET.unconstrained)),
    )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


@st.composite
def _annotated(draw: st.DrawFn, schema: dict, subset: SchemaSubset) -> dict:
    if subset.allows("description") and draw(st.booleans()):
        schema["description"] = draw(st.text("abc ", max_size=8))
    if subset.allows("title") and draw(st.integers(0, 4)) == 0:
        schema["title"] = "T"
    return schema


def _bound_choices(subset: SchemaSubset, key: str, fractional: bool = False) -> list[str]:
    choices = ["absent"]
    if subset.allows(key):
        choices.append("inclusive")
        if fractional:  # a non-integral bound on an integer: ceil/floor territory
            choices.append("fractional")
    if subset.allows("exclusiveM" + key[1:]):
        choices.append("exclusive")
    return choices


@st.composite
def _integer_schemas(draw: st.DrawFn, subset: SchemaSubset) -> dict:
    schema: dict = {"type": "integer"}
    lo = draw(st.integers(-10**6, 10**6))
    span = draw(st.integers(2, 10**4))  # >= 2: one integer survives even two exclusive bounds
    for key, bound in (("minimum", lo), ("maximum", lo + span)):
        choice = draw(st.sampled_from(_bound_choices(subset, key, fractional=True)))
        if choice == "inclusive":
            schema[key] = bound
        elif choice == "exclusive":
            schema["exclusiveM" + key[1:]] = bound
        elif choice == "fractional":
            schema[key] = bound - 0.5 if key == "minimum" else bound + 0.5
    if subset.allows("default") and draw(st.booleans()):
        # Sometimes a default outside the bounds: a generator must not take it as a hint.
        schema["default"] = draw(st.integers(lo - 5, lo + span + 5))
    return schema


@st.composite
def _number_schemas(draw: st.DrawFn, subset: SchemaSubset) -> dict:
    schema: dict = {"type": "number"}
    if draw(st.integers(0, 9)) == 0:  # bounds whose difference overflows a float
        lo, hi = -1e308, 1e308
    else:
        lo = draw(st.floats(-1e6, 1e6, allow_nan=False))
        hi = lo + draw(st.floats(1e-3, 1e6, allow_nan=False))
    for key, bound in (("minimum", lo), ("maximum", hi)):
        choice = draw(st.sampled_from(_bound_choices(subset, key)))
        if choice == "inclusive":
            schema[key] = bound
        elif choice == "exclusive":
            schema["exclusiveM" + key[1:]] = bound
    return schema


@st.composite
def _string_schemas(draw: st.DrawFn, subset: SchemaSubset) -> dict:
    schema: dict = {"type": "string"}
    lo = draw(st.integers(0, 12))
    if subset.allows("minLength") and draw(st.booleans()):
        schema["minLength"] = lo
    if subset.allows("maxLength") and draw(st.booleans()):
        schema["maxLength"] = lo + draw(st.integers(0, 30))
    return schema


@st.composite
def _enum_schemas(draw: st.DrawFn, subset: SchemaSubset) -> dict:
    values = draw(st.lists(SCALARS, min_size=1, max_size=4, unique_by=lambda v: json.dumps(v)))
    shapes = [s for s, kw in (("bare", "enum"), ("typed", "enum"), ("const", "const")) if subset.allows(kw)]
    shape = draw(st.sampled_from(shapes))
    schema: dict = {"enum": values}
    if shape == "typed":  # values of other types are present but not allowed
        schema["type"] = json_type(values[0])
    elif shape == "const":
        schema = {"const": values[0]}
        if draw(st.booleans()):
            schema["type"] = json_type(values[0])
    if subset.allows("default") and draw(st.booleans()):
        schema["default"] = draw(st.sampled_from(values)) if shape != "const" else values[0]
    return schema


def _leaf_schemas(subset: SchemaSubset, refs: tuple[str, ...] = ()) -> st.SearchStrategy[dict]:
    boolean_forms: tuple[dict, ...] = ({},) + (({"default": True}, {"default": False})
                                                if subset.allows("default") else ())
    options = [
        st.just({"type": "null"}),
        st.builds(lambda d: {"type": "boolean", **d}, st.sampled_from(boolean_forms)),
        _integer_schemas(subset), _number_schemas(subset), _string_schemas(subset),
        st.builds(lambda s: {**s, "type": [s["type"], "null"]}, _string_schemas(subset)),
    ]
    if subset.allows("enum") or subset.allows("const"):
        options.append(_enum_schemas(subset))
    if subset.unconstrained:
        options.append(st.just({}))
    plain = st.one_of(options)
    if not refs:
        return plain
    ref = st.sampled_from(refs).map(lambda name: {"$ref": f"#/$defs/{name}"})
    # A quarter of the leaves are references when there is something to refer to.
    return st.integers(0, 3).flatmap(lambda n: ref if n == 0 else plain)


@st.composite
def _object_schemas(draw: st.DrawFn, subset: SchemaSubset, depth: int, refs: tuple[str, ...] = ()) -> dict:
    properties = draw(st.dictionaries(st.sampled_from(PROPERTY_NAMES), schemas(subset, depth - 1, refs),
                                      max_size=4))
    schema: dict = {"type": "object", "properties": properties}
    if not subset.unconstrained:
        # Closed objects only (as OpenAI's strict mode has them): no key beyond `properties`.
        extras = ["false"] if subset.allows("additionalProperties") else ["absent"]
    elif subset.allows("additionalProperties"):
        extras = ["absent", "false", "true", "schema"]
    else:
        extras = ["absent"]
    extra = draw(st.sampled_from(extras))
    if extra == "false":
        schema["additionalProperties"] = False
    elif extra == "true":
        schema["additionalProperties"] = True
    elif extra == "schema":
        schema["additionalProperties"] = draw(_leaf_schemas(subset))
    # A required key `properties` does not define is legal where extra keys are allowed.
    candidates = sorted(properties) + (["extra_1", "extra_2"] if subset.unconstrained and extra != "false" else [])
    if subset.allows("required") and candidates:
        schema["required"] = draw(st.lists(st.sampled_from(candidates), unique=True))
    return draw(_annotated(schema, subset))


@st.composite
def _array_schemas(draw: st.DrawFn, subset: SchemaSubset, depth: int, refs: tuple[str, ...] = ()) -> dict:
    schema: dict = {"type": "array"}
    if subset.allows("items") and draw(st.integers(0, 4)):
        schema["items"] = draw(schemas(subset, depth - 1, refs))
    lo = draw(st.integers(0, 3))
    if subset.allows("minItems") and draw(st.booleans()):
        schema["minItems"] = lo
    if subset.allows("maxItems") and draw(st.booleans()):
        schema["maxItems"] = lo + draw(st.integers(0, 4))
    return draw(_annotated(schema, subset))


@st.composite
def _one_of_schemas(draw: st.DrawFn, subset: SchemaSubset, depth: int, refs: tuple[str, ...] = ()) -> dict:
    # Branches of distinct types never overlap, so exactly-one stays satisfiable.
    builders = {
        "null": st.just({"type": "null"}),
        "boolean": st.just({"type": "boolean"}),
        "integer": _integer_schemas(subset),
        "string": _string_schemas(subset),
        "array": _array_schemas(subset, depth, refs),
        "object": _object_schemas(subset, depth, refs),
    }
    kinds = draw(st.lists(st.sampled_from(sorted(builders)), min_size=1, max_size=3, unique=True))
    return {"oneOf": [draw(builders[k]) for k in kinds]}


@st.composite
def schemas(draw: st.DrawFn, subset: SchemaSubset, depth: int, refs: tuple[str, ...] = ()) -> dict:
    """A schema (not a root: no `$defs`) nesting at most `depth` levels, referring only to `refs`."""
    if depth <= 0:
        return draw(_leaf_schemas(subset, refs))
    # Drawn by hand: st.one_of flattens into the leaf options and would make containers rare.
    kinds = ["leaf", "leaf", "object", "object", "object", "array", "array"]
    kinds += ["anyOf"] if subset.allows("anyOf") else []
    kinds += ["oneOf"] if subset.allows("oneOf") else []
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        return draw(_leaf_schemas(subset, refs))
    if kind == "object":
        return draw(_object_schemas(subset, depth, refs))
    if kind == "array":
        return draw(_array_schemas(subset, depth, refs))
    if kind == "anyOf":
        return {"anyOf": draw(st.lists(schemas(subset, depth - 1, refs), min_size=1, max_size=3))}
    return draw(_one_of_schemas(subset, depth, refs))


@st.composite
def root_schemas(draw: st.DrawFn, subset: SchemaSubset = FULL_SUBSET, depth: int | None = None,
                 object_root: bool | None = None) -> dict:
    """Schemas inside `subset`, nesting at most `depth` levels, some with `$defs` and `$ref`."""
    depth = subset.max_depth if depth is None else depth
    object_root = subset.object_root if object_root is None else object_root
    defs: dict = {}
    if subset.allows("$defs", "$ref") and draw(st.booleans()):
        defs = draw(st.dictionaries(st.sampled_from(("alpha", "beta")), schemas(subset, 1), min_size=1, max_size=2))
        if draw(st.booleans()) and subset.allows("properties", "required"):
            defs["linked"] = LINKED
    refs = tuple(defs)
    root = draw(_object_schemas(subset, max(depth, 1), refs) if object_root else schemas(subset, depth, refs))
    if defs:
        root = {**root, "$defs": defs}
    return root
