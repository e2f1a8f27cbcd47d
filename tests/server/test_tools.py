"""Function tools: the three protocols' tool and tool_choice shapes, the call decision, the arguments."""
import copy
import json
import random
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.server.errors import RequestRejected
from conformance.server.structured import SchemaError
from conformance.server.tools import (
    FunctionTool,
    ToolChoice,
    call_id,
    decide_tool_call,
    encode_arguments,
    generate_arguments,
    parse_anthropic_tool_choice,
    parse_anthropic_tools,
    parse_openai_tool_choice,
    parse_openai_tools,
    parse_responses_tool_choice,
    parse_responses_tools,
    tool_keywords,
)

from .test_structured import root_schemas

TOOLS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "tools"
FIXTURES = {p.stem: json.loads(p.read_text()) for p in sorted(TOOLS_DIR.glob("*.json"))}
WEATHER = FIXTURES["get_weather"]
CATALOG = FIXTURES["search_catalog"]
SEEDS = range(30)


def responses_shape(chat_tool: dict) -> dict:
    return {"type": "function", **chat_tool["function"]}


def anthropic_shape(chat_tool: dict) -> dict:
    f = chat_tool["function"]
    return {"name": f["name"], "description": f["description"], "input_schema": f["parameters"]}


def rejected(call, *args) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        call(*args)
    error = info.value
    assert error.status == 400
    if error.param is not None:
        assert error.message.startswith(error.param), error.message
    return error


@pytest.fixture
def tools() -> list[FunctionTool]:
    return parse_openai_tools([WEATHER, CATALOG])


# ----------------------------------------------------------------------------- tool definitions


def test_the_three_shapes_parse_to_the_same_tools():
    chat = parse_openai_tools(list(FIXTURES.values()))
    responses = parse_responses_tools([responses_shape(t) for t in FIXTURES.values()])
    anthropic = parse_anthropic_tools([anthropic_shape(t) for t in FIXTURES.values()])
    assert [t.name for t in chat] == ["get_weather", "search_catalog"]
    assert chat[0].description == "Get the current weather for a city."
    assert chat[0].parameters == WEATHER["function"]["parameters"]
    # Only the protocol's default for an omitted `strict` differs (Responses: strict unless told).
    assert [t.strict for t in chat] == [False, False] and [t.strict for t in responses] == [True, True]
    assert [(t.name, t.description, t.parameters) for t in chat] == \
        [(t.name, t.description, t.parameters) for t in responses] == \
        [(t.name, t.description, t.parameters) for t in anthropic]


def test_optional_parts_default_sensibly():
    [chat] = parse_openai_tools([{"type": "function", "function": {"name": "ping", "strict": True}}])
    assert chat == FunctionTool("ping", "", {"type": "object", "properties": {}}, strict=True)
    [flat] = parse_responses_tools([{"type": "function", "name": "ping", "parameters": None, "strict": False}])
    assert flat == FunctionTool("ping", "", {"type": "object", "properties": {}}, strict=False)
    [anthropic] = parse_anthropic_tools([{"name": "ping", "type": "custom", "input_schema": {"type": "object"}}])
    assert anthropic.parameters == {"type": "object"}
    assert parse_openai_tools(None) == parse_anthropic_tools([]) == []


def test_parsed_parameters_do_not_alias_the_request():
    raw = copy.deepcopy(WEATHER)
    [tool] = parse_openai_tools([raw])
    raw["function"]["parameters"]["required"] = []
    assert "required" in tool.parameters and tool.parameters["required"] == ["city"]


def _chat(**function) -> dict:
    return {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, **function}}


CHAT_BAD = [
    ({"type": "function"}, "tools", "invalid_type"),
    (["get_weather"], "tools[0]", "invalid_type"),
    ([{"function": {"name": "f"}}], "tools[0].type", "missing_required_parameter"),
    ([{"type": "custom", "custom": {"name": "f"}}], "tools[0].type", "invalid_value"),
    ([{"type": "function"}], "tools[0].function", "missing_required_parameter"),
    ([{"type": "function", "function": "f"}], "tools[0].function", "invalid_type"),
    ([{"type": "function", "function": {"parameters": {"type": "object"}}}], "tools[0].function.name",
     "missing_required_parameter"),
    ([_chat(name=7)], "tools[0].function.name", "invalid_type"),
    ([_chat(name="get weather")], "tools[0].function.name", "invalid_value"),
    ([_chat(name="")], "tools[0].function.name", "invalid_value"),
    ([_chat(name="x" * 65)], "tools[0].function.name", "invalid_value"),
    ([_chat(name="naïve")], "tools[0].function.name", "invalid_value"),
    ([_chat(name="trailing\n")], "tools[0].function.name", "invalid_value"),
    ([_chat(name="dotted.name")], "tools[0].function.name", "invalid_value"),
    ([_chat(description=["x"])], "tools[0].function.description", "invalid_type"),
    ([_chat(strict="true")], "tools[0].function.strict", "invalid_type"),
    ([_chat(parameters=["city"])], "tools[0].function.parameters", "invalid_type"),
    ([_chat(parameters={"type": "string"})], "tools[0].function.parameters", "invalid_value"),
    ([_chat(parameters={"properties": {}})], "tools[0].function.parameters", "invalid_value"),
    ([_chat(parameters={"type": "object", "properties": {"c": {"type": "string", "pattern": "^[A-Z]"}}})],
     "tools[0].function.parameters", "unsupported_schema"),
    ([_chat(parameters={"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 1}}})],
     "tools[0].function.parameters", "invalid_schema"),
    ([WEATHER, CATALOG, WEATHER], "tools[2].function.name", "invalid_value"),
]


@pytest.mark.parametrize(("raw", "param", "code"), CHAT_BAD, ids=[str(i) for i in range(len(CHAT_BAD))])
def test_chat_tool_rejections(raw, param, code):
    error = rejected(parse_openai_tools, raw)
    assert (error.param, error.code) == (param, code)


def test_unsupported_schema_message_names_keyword_and_place():
    raw = [_chat(parameters={"type": "object", "properties": {"c": {"type": "string", "format": "date"}}})]
    error = rejected(parse_openai_tools, raw)
    assert "'format'" in error.message and "#/properties/c" in error.message


def _flat(**fields) -> dict:
    return {"type": "function", "name": "f", "parameters": {"type": "object"}, **fields}


RESPONSES_BAD = [
    ([{"type": "web_search"}], "tools[0].type", "invalid_value"),
    ([{"type": "function", "function": {"name": "f"}}], "tools[0].name", "missing_required_parameter"),
    ([_flat(name="a b")], "tools[0].name", "invalid_value"),
    ([_flat(parameters="{}")], "tools[0].parameters", "invalid_type"),
    ([_flat(parameters={"type": "array"})], "tools[0].parameters", "invalid_value"),
    ([_flat(strict=1)], "tools[0].strict", "invalid_type"),
    ([_flat(), _flat()], "tools[1].name", "invalid_value"),
]


@pytest.mark.parametrize(("raw", "param", "code"), RESPONSES_BAD, ids=[str(i) for i in range(len(RESPONSES_BAD))])
def test_responses_tool_rejections(raw, param, code):
    error = rejected(parse_responses_tools, raw)
    assert (error.param, error.code) == (param, code)


def _anthropic(**fields) -> dict:
    return {"name": "f", "input_schema": {"type": "object"}, **fields}


ANTHROPIC_BAD = [
    ("tools", "tools", "invalid_type"),
    ([{"name": "f"}], "tools[0].input_schema", "missing_required_parameter"),
    ([{"input_schema": {"type": "object"}}], "tools[0].name", "missing_required_parameter"),
    ([_anthropic(name="-" * 65)], "tools[0].name", "invalid_value"),
    ([_anthropic(input_schema={"type": "object", "properties": {"x": {"not": {}}}})], "tools[0].input_schema",
     "unsupported_schema"),
    ([_anthropic(input_schema={"type": ["object", "null"]})], "tools[0].input_schema", "invalid_value"),
    ([_anthropic(type="web_search_20250305")], "tools[0].type", "invalid_value"),
    ([_anthropic(description=False)], "tools[0].description", "invalid_type"),
    ([_anthropic(), _anthropic()], "tools[1].name", "invalid_value"),
]


@pytest.mark.parametrize(("raw", "param", "code"), ANTHROPIC_BAD, ids=[str(i) for i in range(len(ANTHROPIC_BAD))])
def test_anthropic_tool_rejections(raw, param, code):
    error = rejected(parse_anthropic_tools, raw)
    assert (error.param, error.code) == (param, code)


def test_valid_names_at_the_edges():
    for name in ("a", "x" * 64, "get-weather_2", "ABC_def-123"):
        assert parse_openai_tools([_chat(name=name)])[0].name == name


# ----------------------------------------------------------------------------- tool_choice


def test_tool_choice_defaults_depend_on_tools(tools):
    for parse in (parse_openai_tool_choice, parse_responses_tool_choice, parse_anthropic_tool_choice):
        assert parse(None, tools) == ToolChoice("auto")
        assert parse(None, []) == ToolChoice("none")


def test_openai_tool_choice_forms(tools):
    for parse in (parse_openai_tool_choice, parse_responses_tool_choice):
        assert parse("none", tools) == ToolChoice("none")
        assert parse("auto", tools) == ToolChoice("auto")
        assert parse("required", tools) == ToolChoice("required")
        assert parse("auto", []) == ToolChoice("auto")  # accepted; with nothing to call it calls nothing
    named = ToolChoice("named", "search_catalog")
    assert parse_openai_tool_choice({"type": "function", "function": {"name": "search_catalog"}}, tools) == named
    assert parse_responses_tool_choice({"type": "function", "name": "search_catalog"}, tools) == named


def test_anthropic_tool_choice_forms(tools):
    assert parse_anthropic_tool_choice({"type": "auto"}, tools) == ToolChoice("auto")
    assert parse_anthropic_tool_choice({"type": "any", "disable_parallel_tool_use": True}, tools) == \
        ToolChoice("required")
    assert parse_anthropic_tool_choice({"type": "none"}, tools) == ToolChoice("none")
    assert parse_anthropic_tool_choice({"type": "tool", "name": "get_weather"}, tools) == \
        ToolChoice("named", "get_weather")


CHOICE_BAD = [
    (parse_openai_tool_choice, "always", "tool_choice", "invalid_value"),
    (parse_openai_tool_choice, 1, "tool_choice", "invalid_type"),
    (parse_openai_tool_choice, {"function": {"name": "get_weather"}}, "tool_choice.type",
     "missing_required_parameter"),
    (parse_openai_tool_choice, {"type": "custom", "custom": {"name": "x"}}, "tool_choice.type", "invalid_value"),
    (parse_openai_tool_choice, {"type": "function"}, "tool_choice.function", "missing_required_parameter"),
    (parse_openai_tool_choice, {"type": "function", "function": "get_weather"}, "tool_choice.function",
     "invalid_type"),
    (parse_openai_tool_choice, {"type": "function", "function": {}}, "tool_choice.function.name",
     "missing_required_parameter"),
    (parse_openai_tool_choice, {"type": "function", "function": {"name": "get_time"}}, "tool_choice.function.name",
     "invalid_value"),
    # The Responses (flat) spelling sent to Chat Completions.
    (parse_openai_tool_choice, {"type": "function", "name": "get_weather"}, "tool_choice.function",
     "missing_required_parameter"),
    (parse_responses_tool_choice, "any", "tool_choice", "invalid_value"),
    (parse_responses_tool_choice, {"type": "function"}, "tool_choice.name", "missing_required_parameter"),
    (parse_responses_tool_choice, {"type": "function", "name": "nope"}, "tool_choice.name", "invalid_value"),
    (parse_responses_tool_choice, {"type": "web_search_preview"}, "tool_choice.type", "invalid_value"),
    (parse_anthropic_tool_choice, "auto", "tool_choice", "invalid_type"),
    (parse_anthropic_tool_choice, {"type": "required"}, "tool_choice.type", "invalid_value"),
    (parse_anthropic_tool_choice, {}, "tool_choice.type", "missing_required_parameter"),
    (parse_anthropic_tool_choice, {"type": "tool"}, "tool_choice.name", "missing_required_parameter"),
    (parse_anthropic_tool_choice, {"type": "tool", "name": "nope"}, "tool_choice.name", "invalid_value"),
    (parse_anthropic_tool_choice, {"type": "auto", "disable_parallel_tool_use": "yes"},
     "tool_choice.disable_parallel_tool_use", "invalid_type"),
]


@pytest.mark.parametrize(("parse", "raw", "param", "code"), CHOICE_BAD, ids=[str(i) for i in range(len(CHOICE_BAD))])
def test_tool_choice_rejections(tools, parse, raw, param, code):
    error = rejected(parse, raw, tools)
    assert (error.param, error.code) == (param, code)


@pytest.mark.parametrize(("parse", "raw"), [
    (parse_openai_tool_choice, "required"),
    (parse_openai_tool_choice, {"type": "function", "function": {"name": "get_weather"}}),
    (parse_responses_tool_choice, "required"),
    (parse_anthropic_tool_choice, {"type": "any"}),
    (parse_anthropic_tool_choice, {"type": "tool", "name": "get_weather"}),
])
def test_forcing_a_call_needs_tools(parse, raw):
    error = rejected(parse, raw, [])
    assert error.param.startswith("tool_choice") and error.code == "invalid_value"


def test_tool_choice_invariant():
    with pytest.raises(ValueError):
        ToolChoice("named")
    with pytest.raises(ValueError):
        ToolChoice("auto", "get_weather")


# ----------------------------------------------------------------------------- deciding


def decide(tools, mode, prompt, name=None, seed=0):
    return decide_tool_call(tools, ToolChoice(mode, name), prompt, random.Random(seed))


def test_none_never_calls(tools):
    assert decide(tools, "none", "What's the weather in Paris? get_weather please") is None
    assert decide([], "auto", "weather") is None


def test_named_calls_that_tool(tools):
    assert decide(tools, "named", "Write a haiku about the ocean.", "search_catalog").name == "search_catalog"


def test_auto_calls_only_a_mentioned_tool(tools):
    assert decide(tools, "auto", "What's the WEATHER like in Paris today?").name == "get_weather"
    assert decide(tools, "auto", "Find garden products in the catalog").name == "search_catalog"
    assert decide(tools, "auto", "Write a haiku about the ocean.") is None
    # Short and stop words do not count: "get", "the", "for", "with" are everywhere.
    assert decide(tools, "auto", "Get me the answer with a smile, for once.") is None


def test_auto_prefers_verbatim_names_then_more_keywords_then_order(tools):
    assert decide(tools, "auto", "Use search_catalog, not the weather.").name == "search_catalog"
    assert decide(tools, "auto", "weather and catalog").name == "get_weather"  # one keyword each: list order
    assert decide(tools, "auto", "weather, product catalog search").name == "search_catalog"


def test_required_uses_the_mention_else_the_rng(tools):
    assert decide(tools, "required", "weather in Oslo").name == "get_weather"
    picks = {decide(tools, "required", "Write a haiku about the ocean.", seed=s).name for s in SEEDS}
    assert picks == {"get_weather", "search_catalog"}
    assert all(decide(tools, "required", "a haiku", seed=s) == decide(tools, "required", "a haiku", seed=s)
               for s in SEEDS)


def test_tool_keywords():
    [tool] = parse_openai_tools([_chat(name="getWeatherReport", description="Reports the weather for a city.")])
    assert tool_keywords(tool) == {"weather", "report", "reports", "city"}


# ----------------------------------------------------------------------------- arguments and ids


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_tool_arguments_validate(name):
    [tool] = parse_openai_tools([FIXTURES[name]])
    seen = set()
    for seed in SEEDS:
        args = generate_arguments(tool.parameters, random.Random(seed))
        jsonschema.validate(args, tool.parameters)
        encoded = encode_arguments(args)
        assert json.loads(encoded) == args and ": " not in encoded
        seen.add(encoded)
    assert len(seen) > 1


def test_weather_arguments_always_carry_the_city():
    [tool] = parse_openai_tools([WEATHER])
    units = set()
    for seed in SEEDS:
        args = generate_arguments(tool.parameters, random.Random(seed))
        assert isinstance(args["city"], str) and args["city"]
        units.add(args.get("unit"))
    assert units == {None, "celsius", "fahrenheit"}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root_schemas(depth=3, object_root=True), st.integers(0, 2**32))
def test_arguments_validate_for_random_schemas(schema, seed):
    args = generate_arguments(schema, random.Random(seed))
    assert isinstance(args, dict)
    jsonschema.validate(args, schema)
    assert generate_arguments(schema, random.Random(seed)) == args  # same seed, same arguments


def test_generate_arguments_edges():
    assert generate_arguments(None, random.Random(0)) == {}
    assert generate_arguments({}, random.Random(0)) == {}
    with pytest.raises(ValueError, match="object"):
        generate_arguments({"type": "string"}, random.Random(0))
    with pytest.raises(SchemaError, match="'pattern'") as info:
        generate_arguments({"type": "object", "properties": {"c": {"type": "string", "pattern": "x"}}},
                           random.Random(0))
    assert isinstance(info.value, ValueError) and info.value.keyword == "pattern"


@pytest.mark.parametrize("prefix", ["call_", "fc_", "toolu_"])
def test_call_ids(prefix):
    ids = [call_id(prefix, random.Random(seed)) for seed in SEEDS]
    assert all(re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert call_id(prefix, random.Random(7)) == call_id(prefix, random.Random(7))
