"""Structured output: format parsing, the schema subset, and generated JSON that always validates."""
import json
import random
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.server.errors import RequestRejected
from conformance.server.structured import (
    SUPPORTED_KEYWORDS,
    TEXT,
    OutputFormat,
    SchemaError,
    check_schema,
    generate_json,
    generate_value,
    parse_response_format_chat,
    parse_text_format_responses,
    unsupported_keywords,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "fixtures" / "schemas"
FIXTURE_SCHEMAS = sorted(SCHEMAS.glob("*.json"))
SEEDS = range(25)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def schema_format(schema: dict, name: str = "answer") -> OutputFormat:
    return parse_response_format_chat({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})


# ----------------------------------------------------------------------------- a strategy for the subset

PROPERTY_NAMES = ("a", "b", "c", "d", "e")
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                    st.floats(-1e6, 1e6, allow_nan=False), st.text("abxyz ", max_size=6))


def json_type(value) -> str:
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
def annotated(draw, schema: dict) -> dict:
    if draw(st.booleans()):
        schema["description"] = draw(st.text("abc ", max_size=8))
    if draw(st.integers(0, 4)) == 0:
        schema["title"] = "T"
    return schema


@st.composite
def integer_schemas(draw) -> dict:
    schema: dict = {"type": "integer"}
    lo = draw(st.integers(-10**6, 10**6))
    span = draw(st.integers(2, 10**4))  # >= 2: one integer survives even two exclusive bounds
    for key, bound in (("minimum", lo), ("maximum", lo + span)):
        choice = draw(st.sampled_from(("absent", "inclusive", "exclusive", "fractional")))
        if choice == "inclusive":
            schema[key] = bound
        elif choice == "exclusive":
            schema["exclusiveM" + key[1:]] = bound
        elif choice == "fractional":  # a non-integral bound on an integer: ceil/floor territory
            schema[key] = bound - 0.5 if key == "minimum" else bound + 0.5
    if draw(st.booleans()):
        # Sometimes a default outside the bounds: the generator must not use it.
        schema["default"] = draw(st.integers(lo - 5, lo + span + 5))
    return schema


@st.composite
def number_schemas(draw) -> dict:
    schema: dict = {"type": "number"}
    if draw(st.integers(0, 9)) == 0:  # bounds whose difference overflows a float
        lo, hi = -1e308, 1e308
    else:
        lo = draw(st.floats(-1e6, 1e6, allow_nan=False))
        hi = lo + draw(st.floats(1e-3, 1e6, allow_nan=False))
    for key, bound in (("minimum", lo), ("maximum", hi)):
        choice = draw(st.sampled_from(("absent", "inclusive", "exclusive")))
        if choice == "inclusive":
            schema[key] = bound
        elif choice == "exclusive":
            schema["exclusiveM" + key[1:]] = bound
    return schema


@st.composite
def string_schemas(draw) -> dict:
    schema: dict = {"type": "string"}
    lo = draw(st.integers(0, 12))
    if draw(st.booleans()):
        schema["minLength"] = lo
    if draw(st.booleans()):
        schema["maxLength"] = lo + draw(st.integers(0, 30))
    return schema


@st.composite
def enum_schemas(draw) -> dict:
    values = draw(st.lists(SCALARS, min_size=1, max_size=4, unique_by=lambda v: json.dumps(v)))
    schema: dict = {"enum": values}
    shape = draw(st.sampled_from(("bare", "typed", "const")))
    if shape == "typed":  # values of other types are present but not allowed
        schema["type"] = json_type(values[0])
    elif shape == "const":
        schema = {"const": values[0]}
        if draw(st.booleans()):
            schema["type"] = json_type(values[0])
    if draw(st.booleans()):
        schema["default"] = draw(st.sampled_from(values))
    return schema


def leaf_schemas(refs: tuple[str, ...] = ()) -> st.SearchStrategy[dict]:
    options = [
        st.just({"type": "null"}),
        st.builds(lambda d: {"type": "boolean", **d}, st.sampled_from(({}, {"default": True}, {"default": False}))),
        integer_schemas(), number_schemas(), string_schemas(), enum_schemas(),
        st.builds(lambda s: {**s, "type": [s["type"], "null"]}, string_schemas()),
        st.just({}),  # anything goes
    ]
    plain = st.one_of(options)
    if not refs:
        return plain
    ref = st.sampled_from(refs).map(lambda name: {"$ref": f"#/$defs/{name}"})
    # A quarter of the leaves are references when there is something to refer to.
    return st.integers(0, 3).flatmap(lambda n: ref if n == 0 else plain)


@st.composite
def object_schemas(draw, depth: int, refs: tuple[str, ...] = ()) -> dict:
    properties = draw(st.dictionaries(st.sampled_from(PROPERTY_NAMES), schemas(depth - 1, refs), max_size=4))
    schema: dict = {"type": "object", "properties": properties}
    extra = draw(st.sampled_from(("absent", "false", "true", "schema")))
    if extra == "false":
        schema["additionalProperties"] = False
    elif extra == "true":
        schema["additionalProperties"] = True
    elif extra == "schema":
        schema["additionalProperties"] = draw(leaf_schemas())
    candidates = sorted(properties) + ([] if extra == "false" else ["extra_1", "extra_2"])
    if candidates:
        schema["required"] = draw(st.lists(st.sampled_from(candidates), unique=True))
    return draw(annotated(schema))


@st.composite
def array_schemas(draw, depth: int, refs: tuple[str, ...] = ()) -> dict:
    schema: dict = {"type": "array"}
    if draw(st.integers(0, 4)):
        schema["items"] = draw(schemas(depth - 1, refs))
    lo = draw(st.integers(0, 3))
    if draw(st.booleans()):
        schema["minItems"] = lo
    if draw(st.booleans()):
        schema["maxItems"] = lo + draw(st.integers(0, 4))
    return draw(annotated(schema))


@st.composite
def one_of_schemas(draw, depth: int, refs: tuple[str, ...] = ()) -> dict:
    # Branches of distinct types never overlap, so exactly-one stays satisfiable.
    builders = {
        "null": st.just({"type": "null"}),
        "boolean": st.just({"type": "boolean"}),
        "integer": integer_schemas(),
        "string": string_schemas(),
        "array": array_schemas(depth, refs),
        "object": object_schemas(depth, refs),
    }
    kinds = draw(st.lists(st.sampled_from(sorted(builders)), min_size=1, max_size=3, unique=True))
    return {"oneOf": [draw(builders[k]) for k in kinds]}


@st.composite
def schemas(draw, depth: int, refs: tuple[str, ...] = ()) -> dict:
    if depth <= 0:
        return draw(leaf_schemas(refs))
    # Drawn by hand: st.one_of flattens into the leaf options and would make containers rare.
    kind = draw(st.sampled_from(("leaf", "leaf", "object", "object", "object", "array", "array", "anyOf", "oneOf")))
    if kind == "leaf":
        return draw(leaf_schemas(refs))
    if kind == "object":
        return draw(object_schemas(depth, refs))
    if kind == "array":
        return draw(array_schemas(depth, refs))
    if kind == "anyOf":
        return {"anyOf": draw(st.lists(schemas(depth - 1, refs), min_size=1, max_size=3))}
    return draw(one_of_schemas(depth, refs))


# A recursive definition: terminates because `next` is optional.
LINKED = {"type": "object", "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/linked"}},
          "required": ["value"]}


@st.composite
def root_schemas(draw, depth: int = 3, object_root: bool = False) -> dict:
    """Schemas inside the subset, nesting at most `depth` levels, some with $defs and $ref."""
    defs: dict = {}
    if draw(st.booleans()):
        defs = draw(st.dictionaries(st.sampled_from(("alpha", "beta")), schemas(1), min_size=1, max_size=2))
        if draw(st.booleans()):
            defs["linked"] = LINKED
    refs = tuple(defs)
    root = draw(object_schemas(depth, refs) if object_root else schemas(depth, refs))
    if defs:
        root = {**root, "$defs": defs}
    return root


def assert_generates_valid(schema: dict, seeds=range(3)) -> None:
    for seed in seeds:
        value = generate_value(schema, random.Random(seed))
        jsonschema.validate(value, schema)


# ----------------------------------------------------------------------------- generation


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root_schemas())
def test_generated_values_validate_for_random_schemas(schema):
    assert_generates_valid(schema)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root_schemas(), st.integers(0, 2**32))
def test_generate_json_is_compact_valid_and_deterministic(schema, seed):
    fmt = OutputFormat("json_schema", name="x", schema=schema)
    text = generate_json(fmt, random.Random(seed))
    value = json.loads(text)
    jsonschema.validate(value, schema)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert generate_json(fmt, random.Random(seed)) == text


@pytest.mark.parametrize("path", FIXTURE_SCHEMAS, ids=lambda p: p.stem)
def test_fixture_schemas_generate_valid_json(path):
    schema = load(path)
    fmt = schema_format(schema, path.stem)
    outputs = {generate_json(fmt, random.Random(seed)) for seed in SEEDS}
    for text in outputs:
        jsonschema.validate(json.loads(text), schema)
    assert len(outputs) > len(SEEDS) // 2  # the rng really drives the choices


def test_fixture_schemas_cover_the_advertised_features():
    order = load(SCHEMAS / "order.json")
    assert "$defs" in order and "$ref" in json.dumps(order) and "enum" in json.dumps(order)
    assert any(p.get("type") == "array" for p in order["properties"].values())
    assert not unsupported_keywords(order) and not unsupported_keywords(load(SCHEMAS / "person.json"))


def test_required_always_present_and_optional_sometimes():
    schema = {"type": "object", "properties": {"r": {"type": "string"}, "o": {"type": "integer"}},
              "required": ["r"], "additionalProperties": False}
    values = [generate_value(schema, random.Random(seed)) for seed in SEEDS]
    assert all("r" in v for v in values)
    assert any("o" in v for v in values) and any("o" not in v for v in values)


def test_recursive_ref_terminates():
    schema = {"$defs": {"linked": LINKED}, "$ref": "#/$defs/linked"}
    for seed in SEEDS:
        jsonschema.validate(generate_value(schema, random.Random(seed)), schema)


def test_number_edge_bounds():
    cases = [
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1e-9},
        {"type": "number", "minimum": -1e308, "maximum": 1e308},
        {"type": "number", "minimum": 3.5, "maximum": 3.5},
        {"type": "integer", "exclusiveMinimum": 1.5, "exclusiveMaximum": 3},
        {"type": "integer", "minimum": 10**30},
    ]
    for schema in cases:
        assert_generates_valid(schema, SEEDS)


def test_json_object_gives_a_small_object():
    fmt = parse_response_format_chat({"type": "json_object"})
    for seed in SEEDS:
        value = json.loads(generate_json(fmt, random.Random(seed)))
        assert isinstance(value, dict) and 1 <= len(value) <= 3


def test_text_format_has_no_json():
    with pytest.raises(ValueError):
        generate_json(TEXT, random.Random(0))


# ----------------------------------------------------------------------------- the subset's edges

UNSUPPORTED = [
    ({"type": "string", "pattern": "^a"}, "pattern"),
    ({"type": "string", "format": "date-time"}, "format"),
    ({"type": "object", "patternProperties": {"^x": {}}}, "patternProperties"),
    ({"type": "array", "uniqueItems": True}, "uniqueItems"),
    ({"type": "number", "multipleOf": 2}, "multipleOf"),
    ({"type": "object", "minProperties": 1}, "minProperties"),
    ({"allOf": [{"type": "string"}]}, "allOf"),
    ({"not": {"type": "string"}}, "not"),
    ({"if": {"type": "string"}}, "if"),
    ({"type": "array", "prefixItems": [{"type": "string"}]}, "prefixItems"),
    ({"$id": "https://example.com/s", "type": "string"}, "$id"),
    ({"type": "string", "nullable": True}, "nullable"),
    ({"type": "object", "properties": {"deep": {"type": "array", "items": {"contains": {}}}}}, "contains"),
]


@pytest.mark.parametrize(("schema", "keyword"), UNSUPPORTED, ids=[k for _, k in UNSUPPORTED])
def test_unsupported_keywords_are_named_and_rejected(schema, keyword):
    assert unsupported_keywords(schema) == [keyword]
    assert keyword not in SUPPORTED_KEYWORDS
    with pytest.raises(SchemaError) as info:
        check_schema(schema)
    assert info.value.keyword == keyword and info.value.code == "unsupported_schema"
    assert repr(keyword) in str(info.value)
    for param in ("response_format", "text.format"):
        with pytest.raises(RequestRejected) as rejected:
            generate_json(OutputFormat("json_schema", name="x", schema=schema), random.Random(0), param)
        error = rejected.value
        assert (error.status, error.param, error.code) == (400, param, "unsupported_schema")
        assert keyword in error.message and error.message.startswith(param)


def test_property_names_are_not_keywords():
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}, "format": {"type": "integer"}}}
    assert unsupported_keywords(schema) == []
    assert_generates_valid(schema)


INVALID = [
    ({"type": "strnig"}, "type"),
    ({"type": ["string", "string"]}, "type"),
    ({"type": "integer", "minimum": 5, "maximum": 3}, "minimum"),
    ({"type": "integer", "exclusiveMinimum": 1, "exclusiveMaximum": 2}, "minimum"),
    ({"type": "number", "exclusiveMinimum": 1, "maximum": 1}, "minimum"),
    ({"type": "string", "minLength": 4, "maxLength": 3}, "minLength"),
    ({"type": "string", "minLength": -1}, "minLength"),
    ({"type": "array", "minItems": 3, "maxItems": 1}, "minItems"),
    ({"type": "array", "items": [{"type": "string"}]}, "items"),
    ({"type": "object", "required": ["x"], "additionalProperties": False}, "required"),
    ({"type": "object", "required": "x"}, "required"),
    ({"enum": []}, "enum"),
    ({"type": "integer", "enum": ["a", "b"]}, "enum"),
    ({"type": "string", "const": 3}, "const"),
    ({"type": "number", "exclusiveMinimum": True}, "exclusiveMinimum"),
    ({"type": "number", "maximum": float("inf")}, "maximum"),  # what json.loads makes of 1e400
    ({"anyOf": []}, "anyOf"),
    ({"anyOf": [{"type": "string"}], "type": "string"}, "anyOf"),
    ({"$ref": "https://example.com/schema.json"}, "$ref"),
    ({"$ref": "#/$defs/missing"}, "$ref"),
    ({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}, "$ref"),
    ({"type": "object", "properties": {"x": False}}, None),
    ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "string"}, "$schema"),
]


@pytest.mark.parametrize(("schema", "keyword"), INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_broken_or_unsatisfiable_schemas_are_rejected(schema, keyword):
    with pytest.raises(SchemaError) as info:
        check_schema(schema)
    assert info.value.keyword == keyword
    if keyword:
        assert keyword in str(info.value)


def test_problems_found_only_while_generating_are_400s():
    overlapping = {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 100}]}
    endless = {"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}, "required": ["c"]}},
               "$ref": "#/$defs/n"}
    for schema in (overlapping, endless):
        check_schema(schema)  # fine on its face
        with pytest.raises(RequestRejected) as info:
            generate_json(OutputFormat("json_schema", name="x", schema=schema), random.Random(0), "text.format")
        assert (info.value.status, info.value.param) == (400, "text.format")


def test_accepted_dialects():
    for dialect in ("https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft-07/schema#",
                    "https://json-schema.org/draft/2019-09/schema"):
        assert_generates_valid({"$schema": dialect, "type": "object", "definitions": {"s": {"type": "string"}},
                                "properties": {"x": {"$ref": "#/definitions/s"}}, "required": ["x"]})


# ----------------------------------------------------------------------------- parsing formats


def test_chat_response_format_forms():
    assert parse_response_format_chat(None) == TEXT
    assert parse_response_format_chat({"type": "text"}) == TEXT
    assert parse_response_format_chat({"type": "json_object"}) == OutputFormat("json_object")
    schema = load(SCHEMAS / "person.json")
    fmt = parse_response_format_chat({"type": "json_schema", "json_schema": {
        "name": "person", "description": "A person", "schema": schema, "strict": True}})
    assert fmt == OutputFormat("json_schema", name="person", schema=schema, strict=True, description="A person")
    assert fmt.is_json and not TEXT.is_json


def test_responses_text_format_forms():
    assert parse_text_format_responses(None) == TEXT
    assert parse_text_format_responses({"type": "json_object"}).kind == "json_object"
    schema = load(SCHEMAS / "order.json")
    fmt = parse_text_format_responses({"type": "json_schema", "name": "order", "schema": schema})
    assert (fmt.kind, fmt.name, fmt.schema, fmt.strict) == ("json_schema", "order", schema, False)


OK_SCHEMA = {"type": "object", "properties": {}}
CHAT_BAD = [
    ("json", "response_format", "invalid_type"),
    ({}, "response_format.type", "missing_required_parameter"),
    ({"type": "yaml"}, "response_format.type", "invalid_value"),
    ({"type": "json_schema"}, "response_format.json_schema", "missing_required_parameter"),
    ({"type": "json_schema", "json_schema": "x"}, "response_format.json_schema", "invalid_type"),
    ({"type": "json_schema", "json_schema": {"schema": OK_SCHEMA}}, "response_format.json_schema.name",
     "missing_required_parameter"),
    ({"type": "json_schema", "json_schema": {"name": "bad name", "schema": OK_SCHEMA}},
     "response_format.json_schema.name", "invalid_value"),
    ({"type": "json_schema", "json_schema": {"name": "x" * 65, "schema": OK_SCHEMA}},
     "response_format.json_schema.name", "invalid_value"),
    ({"type": "json_schema", "json_schema": {"name": "n"}}, "response_format.json_schema.schema",
     "missing_required_parameter"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": []}}, "response_format.json_schema.schema",
     "invalid_type"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": OK_SCHEMA, "strict": "yes"}},
     "response_format.json_schema.strict", "invalid_type"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": OK_SCHEMA, "description": 1}},
     "response_format.json_schema.description", "invalid_type"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "string", "format": "email"}}},
     "response_format", "unsupported_schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "strnig"}}},
     "response_format", "invalid_schema"),
]


@pytest.mark.parametrize(("raw", "param", "code"), CHAT_BAD, ids=[str(i) for i in range(len(CHAT_BAD))])
def test_chat_response_format_rejections(raw, param, code):
    with pytest.raises(RequestRejected) as info:
        parse_response_format_chat(raw)
    error = info.value
    assert (error.status, error.param, error.code) == (400, param, code)
    assert error.message.startswith(param)


RESPONSES_BAD = [
    (["json_schema"], "text.format", "invalid_type"),
    ({"type": "grammar"}, "text.format.type", "invalid_value"),
    ({"type": "json_schema", "schema": OK_SCHEMA}, "text.format.name", "missing_required_parameter"),
    ({"type": "json_schema", "name": "n"}, "text.format.schema", "missing_required_parameter"),
    # The chat nesting sent to the Responses API: the flat fields are missing.
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": OK_SCHEMA}}, "text.format.name",
     "missing_required_parameter"),
    ({"type": "json_schema", "name": "n", "schema": {"type": "array", "uniqueItems": True}}, "text.format",
     "unsupported_schema"),
]


@pytest.mark.parametrize(("raw", "param", "code"), RESPONSES_BAD, ids=[str(i) for i in range(len(RESPONSES_BAD))])
def test_responses_text_format_rejections(raw, param, code):
    with pytest.raises(RequestRejected) as info:
        parse_text_format_responses(raw)
    error = info.value
    assert (error.status, error.param, error.code) == (400, param, code)
    assert error.message.startswith(param)
