"""The official SDKs as judges of tools, structured output and images, over real HTTP: any SDK warning fails."""
from __future__ import annotations

import json
from typing import Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from .bodies import CONTRACT, TOOLS, image_base64, image_data_uri

MODEL = CONTRACT.model
WEATHER = "What is the weather in Paris right now?"
CHAT_WEATHER = TOOLS["get_weather"]
WEATHER_SCHEMA = CHAT_WEATHER["function"]["parameters"]
RESULT = '{"temperature_c": 18, "sky": "clear"}'


class GetWeather(BaseModel):
    city: str
    unit: Literal["celsius", "fahrenheit"]


class Address(BaseModel):
    city: str
    country: Literal["FR", "DE", "GB"]


class Person(BaseModel):
    name: str
    age: int
    employed: bool
    nicknames: list[str]
    address: Address

pytestmark = pytest.mark.usefixtures("sdk_warnings_are_errors")


# --------------------------------------------------------------------------- OpenAI Chat Completions


def test_chat_create_with_tools_and_the_result(oa):
    messages = [{"role": "user", "content": WEATHER}]
    c = oa.chat.completions.create(model=MODEL, messages=messages, tools=[CHAT_WEATHER], seed=1)
    choice = c.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)
    follow = [*messages, choice.message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": RESULT}]
    answer = oa.chat.completions.create(model=MODEL, messages=follow, tools=[CHAT_WEATHER], seed=1)
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content
    assert not answer.choices[0].message.tool_calls


def test_chat_stream_helper_accumulates_the_tool_call(oa):
    tool = openai.pydantic_function_tool(GetWeather)
    kwargs = {"model": MODEL, "messages": [{"role": "user", "content": WEATHER}], "tools": [tool],
              "tool_choice": "required", "seed": 2}
    with oa.chat.completions.stream(**kwargs) as s:
        kinds = [event.type for event in s]
        final = s.get_final_completion()
    assert "tool_calls.function.arguments.delta" in kinds and "tool_calls.function.arguments.done" in kinds
    [call] = final.choices[0].message.tool_calls
    assert isinstance(call.function.parsed_arguments, GetWeather) and final.choices[0].finish_reason == "tool_calls"
    same = oa.chat.completions.create(**kwargs).choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (same.id, same.function.name,
                                                                     same.function.arguments)


def test_chat_parse_structured_output(oa):
    c = oa.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": "Describe a customer."}],
                                  response_format=Person, seed=3)
    assert isinstance(c.choices[0].message.parsed, Person)


def test_chat_image(oa):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": image_data_uri("shapes.jpg"), "detail": "low"}}]
    c = oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], seed=4)
    assert c.choices[0].message.content and c.usage.prompt_tokens > 256


# --------------------------------------------------------------------------- OpenAI Responses


def test_responses_create_with_tools_and_the_result(oa):
    tool = {"type": "function", **CHAT_WEATHER["function"], "strict": False}
    r = oa.responses.create(model=MODEL, input=WEATHER, tools=[tool], extra_body={"seed": 5})
    [call] = [item for item in r.output if item.type == "function_call"]
    assert call.id.startswith("fc_") and call.call_id.startswith("call_") and call.status == "completed"
    jsonschema.validate(json.loads(call.arguments), WEATHER_SCHEMA)
    follow = [{"role": "user", "content": WEATHER}, call.model_dump(exclude_none=True),
              {"type": "function_call_output", "call_id": call.call_id, "output": RESULT}]
    answer = oa.responses.create(model=MODEL, input=follow, tools=[tool], extra_body={"seed": 5})
    assert answer.output_text and not [i for i in answer.output if i.type == "function_call"]


def test_responses_stream_with_tools(oa):
    tool = {"type": "function", **CHAT_WEATHER["function"], "strict": False}
    with oa.responses.stream(model=MODEL, input=WEATHER, tools=[tool], tool_choice="required",
                             extra_body={"seed": 6}) as s:
        deltas = [e.delta for e in s if e.type == "response.function_call_arguments.delta"]
        final = s.get_final_response()
    [call] = [item for item in final.output if item.type == "function_call"]
    assert len(deltas) > 1 and "".join(deltas) == call.arguments


def test_responses_parse_text_format(oa):
    r = oa.responses.parse(model=MODEL, input="Describe a customer.", text_format=Person, extra_body={"seed": 7})
    assert isinstance(r.output_parsed, Person)


def test_responses_image(oa):
    content = [{"type": "input_text", "text": "What is this?"},
               {"type": "input_image", "image_url": image_data_uri("shapes.webp"), "detail": "auto"}]
    r = oa.responses.create(model=MODEL, input=[{"role": "user", "content": content}], extra_body={"seed": 8})
    assert r.output_text and r.usage.input_tokens > 256


# --------------------------------------------------------------------------- Anthropic Messages


ANTHROPIC_WEATHER = {"name": "get_weather", "description": CHAT_WEATHER["function"]["description"],
                     "input_schema": WEATHER_SCHEMA}


def test_messages_create_with_tools_and_the_result(an):
    messages = [{"role": "user", "content": WEATHER}]
    m = an.messages.create(model=MODEL, max_tokens=300, messages=messages, tools=[ANTHROPIC_WEATHER],
                           extra_body={"seed": 9})
    assert m.stop_reason == "tool_use"
    [block] = [b for b in m.content if b.type == "tool_use"]
    assert block.id.startswith("toolu_") and block.name == "get_weather"
    jsonschema.validate(block.input, WEATHER_SCHEMA)
    follow = [*messages, {"role": "assistant", "content": m.content},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": RESULT}]}]
    answer = an.messages.create(model=MODEL, max_tokens=300, messages=follow, tools=[ANTHROPIC_WEATHER],
                                extra_body={"seed": 9})
    assert answer.stop_reason == "end_turn" and answer.content[-1].type == "text" and answer.content[-1].text


def test_messages_stream_accumulates_input_json(an):
    kwargs = {"model": MODEL, "max_tokens": 300, "messages": [{"role": "user", "content": WEATHER}],
              "tools": [ANTHROPIC_WEATHER], "tool_choice": {"type": "any"}, "extra_body": {"seed": 10}}
    with an.messages.stream(**kwargs) as s:
        partial = [e.partial_json for e in s if e.type == "input_json"]
        final = s.get_final_message()
    [block] = [b for b in final.content if b.type == "tool_use"]
    assert len(partial) > 1 and json.loads("".join(partial)) == block.input and final.stop_reason == "tool_use"
    same = an.messages.create(**kwargs)
    assert [b.model_dump() for b in same.content if b.type == "tool_use"] == [block.model_dump()]


def test_messages_parse_output_format(an):
    m = an.messages.parse(model=MODEL, max_tokens=600, messages=[{"role": "user", "content": "Describe a customer."}],
                          output_format=Person, extra_body={"seed": 11})
    assert isinstance(m.parsed_output, Person)


def test_messages_image(an):
    source = {"type": "base64", "media_type": "image/gif", "data": image_base64("shapes.gif")}
    content = [{"type": "image", "source": source}, {"type": "text", "text": "What is this?"}]
    m = an.messages.create(model=MODEL, max_tokens=200, messages=[{"role": "user", "content": content}],
                           extra_body={"seed": 12})
    assert m.content[-1].text and m.usage.input_tokens > 256
