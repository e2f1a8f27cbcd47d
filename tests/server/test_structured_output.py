"""Structured output wired into the three endpoints: JSON that validates, seeded, refused when unsupported."""
from __future__ import annotations

import json

import jsonschema
import pytest

from conformance.server import create_app

from .bodies import (
    CHAT,
    CONTRACT,
    ENDPOINTS,
    MESSAGES,
    RESPONSES,
    SCHEMAS,
    WIRES,
    body,
    finish_of,
    json_format,
    problems,
    send,
    text_of,
)

PROMPT = "Describe a typical customer as JSON."


@pytest.fixture(scope="module")
def app():
    return create_app(CONTRACT)


def ask(app, endpoint: str, schema: dict, *, stream: bool = False, **fields):
    fields = {"seed": 5, **json_format(endpoint, schema), **fields}
    if stream:
        fields["stream"] = True
    return send(app, endpoint, body(endpoint, PROMPT, **fields), stream=stream)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_answer_validates_and_is_the_same_everywhere(app, endpoint):
    for schema in SCHEMAS.values():
        answers = [ask(app, endpoint, schema, stream=stream) for stream in (False, True)]
        texts = {text_of(endpoint, ex) for ex in answers}
        assert [problems(endpoint, ex) for ex in answers] == [[], []] and len(texts) == 1
        jsonschema.validate(json.loads(texts.pop()), schema)
    # The JSON depends on the seed and on the prompt digest only: the same on every endpoint.
    person = {e: text_of(e, ask(app, e, SCHEMAS["person"])) for e in ENDPOINTS}
    assert len(set(person.values())) == 1
    assert text_of(endpoint, ask(app, endpoint, SCHEMAS["person"], seed=6)) != person[endpoint]


def test_thinking_reasons_before_the_json(app):
    message = ask(app, CHAT, SCHEMAS["person"]).json()["choices"][0]["message"]
    assert message["reasoning_content"] and json.loads(message["content"])
    blocks = ask(app, MESSAGES, SCHEMAS["person"]).json()["content"]
    assert [b["type"] for b in blocks] == ["thinking", "text"]


def test_json_object_mode(app):
    for endpoint, fields in ((CHAT, {"response_format": {"type": "json_object"}}),
                             (RESPONSES, {"text": {"format": {"type": "json_object"}}})):
        ex = send(app, endpoint, body(endpoint, PROMPT, seed=1, **fields))
        assert problems(endpoint, ex) == [] and isinstance(json.loads(text_of(endpoint, ex)), dict)
    plain = send(app, CHAT, body(CHAT, PROMPT, seed=1, response_format={"type": "text"}))
    with pytest.raises(ValueError):
        json.loads(text_of(CHAT, plain))


def test_max_tokens_cuts_the_json_and_logprobs_are_certain(app):
    ex = ask(app, CHAT, SCHEMAS["order"], max_tokens=5, logprobs=True, top_logprobs=2)
    choice = ex.json()["choices"][0]
    assert choice["finish_reason"] == "length" and ex.json()["usage"]["completion_tokens"] == 5 + \
        ex.json()["usage"]["completion_tokens_details"]["reasoning_tokens"]
    tokens = choice["logprobs"]["content"]
    assert "".join(t["token"] for t in tokens) == choice["message"]["content"]
    assert all(t["logprob"] == 0.0 and [a["logprob"] for a in t["top_logprobs"]] == [0.0, -9999.0] for t in tokens)
    assert finish_of(MESSAGES, ask(app, MESSAGES, SCHEMAS["order"], max_tokens=5)) == "max_tokens"


@pytest.mark.parametrize("endpoint, fields, param", [
    (CHAT, json_format(CHAT, {"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}}),
     "response_format"),
    (CHAT, {"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    (CHAT, {"response_format": {"type": "xml"}}, "response_format.type"),
    (RESPONSES, json_format(RESPONSES, {"type": "object", "properties": {"a": {"format": "email"}}}), "text.format"),
    (RESPONSES, {"text": "json"}, "text"),
    (MESSAGES, json_format(MESSAGES, {"type": "object", "minProperties": 1}), "output_config.format"),
    (MESSAGES, {"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
    (MESSAGES, {"output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema"),
])
def test_unsupported_formats_are_400s_naming_the_field(app, endpoint, fields, param):
    ex = send(app, endpoint, body(endpoint, PROMPT, **fields))
    assert WIRES[endpoint].error_problems(ex, status=400, param=param) == []


def test_output_config_without_format_is_text(app):
    ex = send(app, MESSAGES, body(MESSAGES, PROMPT, seed=1, output_config={"effort": "low"}))
    assert problems(MESSAGES, ex) == [] and not text_of(MESSAGES, ex).startswith("{")
