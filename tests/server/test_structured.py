"""Structured output: format parsing, the schema subset, and generated JSON that always validates."""
import json
import random
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.generation.schemas import (
    FULL_SUBSET,
    LINKED,
    SchemaSubset,
    root_schemas,
)
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


def assert_generates_valid(schema: dict, seeds=range(3)) -> None:
    for seed in seeds:
        value = generate_value(schema, random.Random(seed))
        jsonschema.validate(value, schema)


# ----------------------------------------------------------------------------- generation


def test_the_full_subset_is_what_the_reference_server_supports():
    assert FULL_SUBSET.keywords <= SUPPORTED_KEYWORDS


NARROW = SchemaSubset(frozenset({"type", "properties", "required", "additionalProperties", "items", "enum"}),
                      max_depth=2, object_root=True, unconstrained=False)


def keywords_used(schema) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            children = value.values() if key in ("properties", "$defs") else [value]
            for child in children:
                found |= keywords_used(child)
    elif isinstance(schema, list):
        for item in schema:
            found |= keywords_used(item)
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root_schemas(NARROW))
def test_a_declared_subset_is_respected(schema):
    assert schema["type"] == "object"
    assert keywords_used(schema) <= NARROW.keywords
    assert schema != {} and schema.get("additionalProperties") is False
    assert set(schema.get("required", [])) <= set(schema["properties"])
    assert_generates_valid(schema)


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


@pytest.mark.parametrize("schema", [
    {"type": "array", "minItems": 100_000_000},
    {"type": "string", "minLength": 1_000_000_000},
    {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000}},
])
def test_a_schema_demanding_an_enormous_value_is_refused_before_it_is_built(schema):
    with pytest.raises(SchemaError, match="larger than"):
        generate_value(schema, random.Random(0))


def test_a_huge_max_length_still_yields_a_short_string():
    value = generate_value({"type": "string", "minLength": 2, "maxLength": 10 ** 12}, random.Random(0))
    assert 2 <= len(value) <= 1002
