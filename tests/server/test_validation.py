import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.server.chat_completions import read_conversation
from conformance.server.errors import RequestRejected
from conformance.server.images import IMAGE_TOKENS
from conformance.server.tokens import count_prompt_tokens
from conformance.server.validation import validate_parameters, validate_request

from .bodies import image_data_uri
from .conftest import CHAT

ENDPOINT = "chat_completions"


def chat_params(contract, *types):
    return [p for p in contract.supported_parameters(ENDPOINT) if not types or p.type in types]


def ranged(contract):
    return [p for p in chat_params(contract, "number", "integer") if p.minimum is not None or p.maximum is not None]


def ok_extras(contract, param):
    """Fields that a value of `param` needs alongside to be valid on its own (its `requires`)."""
    return {contract.parameters[k].binding(ENDPOINT).wire_name: v for k, v in param.requires.items()}


def assert_rejected(response, status, param):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if param is not None:
        assert param in error["message"]
    return error


def test_every_range_boundary_accepted_and_just_outside_rejected(ref, contract):
    bodies, expect = [], []
    for p in ranged(contract):
        wire = p.binding(ENDPOINT).wire_name
        step = 1 if p.type == "integer" else 0.001
        for bound, outside in ((p.minimum, p.minimum - step), (p.maximum, p.maximum + step)):
            # Keep generation short except where max_tokens itself is the parameter under test.
            extras = {"max_tokens": 2} if p.name != "max_tokens" else {}
            bodies.append(ref.body(**{wire: bound}, **extras, **ok_extras(contract, p)))
            expect.append((200, None))
            bodies.append(ref.body(**{wire: outside}, **extras, **ok_extras(contract, p)))
            expect.append((400, wire))
    responses = ref.chats(bodies)
    for body, response, (status, wire) in zip(bodies, responses, expect):
        if status == 200:
            assert response.status_code == 200, (body, response.text)
        else:
            error = assert_rejected(response, 400, wire)
            assert "outside the range" in error["message"]
            assert error["code"].endswith(("_above_max_value", "_below_min_value"))


def test_range_message_names_wire_name_value_and_range(ref):
    error = ref.chat(temperature=2.5).json()["error"]
    assert error["message"] == "temperature: 2.5 is outside the range 0..2"


def test_max_tokens_above_output_limit_rejected(ref, contract):
    assert_rejected(ref.chat(max_tokens=contract.limits.max_output_tokens + 1), 400, "max_tokens")


BAD_VALUES = {
    "number": ["hot", True, "1", [1], {"v": 1}],
    "integer": [1.5, 3.0, "3", True, [3]],
    "boolean": ["yes", 1, 0, [True]],
    "enum": ["extreme", 3, True, ["low"]],
    "string_or_list": [5, ["ok", 1], {"s": "x"}, ["a", "b", "c", "d", "e"]],
    "array": ["x", {"type": "function"}, 3],
}


def test_wrong_types_rejected(ref, contract):
    bodies, wires = [], []
    for p in chat_params(contract):
        wire = p.binding(ENDPOINT).wire_name
        for bad in BAD_VALUES[p.type]:
            bodies.append(ref.body(**{wire: bad}, **ok_extras(contract, p)))
            wires.append(wire)
    for body, response, wire in zip(bodies, ref.chats(bodies), wires):
        assert response.status_code == 400, body
        assert_rejected(response, 400, wire)


def test_null_counts_as_omitted(ref):
    a = ref.chat(seed=1, temperature=None, stop=None, max_tokens=None).json()
    b = ref.chat(seed=1).json()
    assert a["choices"][0]["message"] == b["choices"][0]["message"]


def test_omitted_equals_explicit_default_over_http(ref, contract):
    defaults = {p.binding(ENDPOINT).wire_name: p.default for p in chat_params(contract) if p.has_default}
    a = ref.chat(seed=11, logprobs=True, top_logprobs=3).json()
    b = ref.chat(seed=11, **{**defaults, "logprobs": True}, top_logprobs=3).json()
    assert a["choices"] == b["choices"] and a["usage"] == b["usage"]


def test_requires(ref):
    assert_rejected(ref.chat(top_logprobs=2), 400, "top_logprobs")
    error = assert_rejected(ref.chat(top_logprobs=2, logprobs=False), 400, "top_logprobs")
    assert "logprobs" in error["message"]
    assert ref.chat(top_logprobs=2, logprobs=True, max_tokens=1).status_code == 200


def test_enum_and_list_values_accepted(ref, contract):
    for value in contract.parameters["reasoning_effort"].values:
        assert ref.chat(reasoning_effort=value, max_tokens=1).status_code == 200
    assert ref.chat(stop="x", max_tokens=1).status_code == 200
    assert ref.chat(stop=["a", "b", "c", "d"], max_tokens=1).status_code == 200
    assert ref.chat(tools=[{"type": "function", "function": {"name": "f"}}], max_tokens=1).status_code == 200


def test_model_rules(ref):
    body = ref.body()
    del body["model"]
    assert_rejected(ref.request("POST", CHAT, json=body), 400, "model")
    assert_rejected(ref.chat(model=7), 400, "model")
    error = assert_rejected(ref.chat(model="gpt-4o"), 404, None)
    assert error["code"] == "model_not_found" and "gpt-4o" in error["message"]


@pytest.mark.parametrize("messages, param", [
    (None, "messages"),
    ([], "messages"),
    ("hi", "messages"),
    (["hi"], "messages[0]"),
    ([{"role": "robot", "content": "hi"}], "messages[0].role"),
    ([{"content": "hi"}], "messages[0].role"),
    ([{"role": "user"}], "messages[0].content"),
    ([{"role": "user", "content": 5}], "messages[0].content"),
    ([{"role": "user", "content": []}], "messages[0].content"),
    ([{"role": "user", "content": [{"type": "audio"}]}], "messages[0].content[0].type"),
    ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "messages[0].content[0].text"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}], "messages[0].content[0].image_url"),
    ([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "messages[0].content[0].type"),
    ([{"role": "user", "content": "hi", "name": 3}], "messages[0].name"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant"}], "messages[1].content"),
    ([{"role": "user", "content": "hi"}, {"role": "tool", "content": "r"}], "messages[1].tool_call_id"),
])
def test_bad_messages_rejected(ref, messages, param):
    body = ref.body(messages=messages)
    if messages is None:
        del body["messages"]
    assert_rejected(ref.request("POST", CHAT, json=body), 400, param)


def test_all_roles_and_content_shapes_accepted(ref):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Really brief."}]},
        {"role": "user", "name": "ann", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": image_data_uri(), "detail": "low"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        {"role": "user", "content": "Thanks"},
    ]
    r = ref.chat(messages=messages, max_tokens=2)
    assert r.status_code == 200, r.text
    texts = ["Be brief.", "Really brief.", "What is this?", "look\n{\"x\": 1}", "a cat", "A cat.", "Thanks"]
    assert r.json()["usage"]["prompt_tokens"] == count_prompt_tokens(texts, IMAGE_TOKENS)


@pytest.mark.parametrize("raw", [b"{bad", b"", b"\xff\xfe", b'{"temperature": NaN}', b"[1, 2]", b'"x"', b"null"])
def test_malformed_json_is_400(ref, raw):
    r = ref.request("POST", CHAT, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_context_limit_counts_like_usage(ref, contract):
    limit = contract.limits.context_tokens
    # One user message of n one-token words costs n + 4 + 3 prompt tokens.
    fits = limit - 7
    r = ref.chat(messages=[{"role": "user", "content": "a " * fits}], max_tokens=1)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["prompt_tokens"] == limit
    r = ref.chat(messages=[{"role": "user", "content": "a " * (fits + 1)}], max_tokens=1)
    error = assert_rejected(r, 400, "messages")
    assert error["code"] == "context_length_exceeded"
    assert str(limit) in error["message"] and str(limit + 1) in error["message"]


def test_prompt_tokens_in_usage_follow_the_documented_count(ref):
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello, world"}]
    usage = ref.chat(messages=messages, max_tokens=1).json()["usage"]
    assert usage["prompt_tokens"] == (4 + 4) + (3 + 4) + 3


def test_stream_options_and_n(ref):
    assert_rejected(ref.chat(stream_options={"include_usage": True}), 400, "stream_options")
    assert_rejected(ref.chat(stream=True, stream_options="yes"), 400, "stream_options")
    assert_rejected(ref.chat(stream=True, stream_options={"include_usage": 1}), 400, "stream_options.include_usage")
    assert_rejected(ref.chat(stream="yes"), 400, "stream")
    assert_rejected(ref.chat(n=2), 400, "n")
    assert ref.chat(n=1, max_tokens=1).status_code == 200


def test_dotted_wire_names_on_other_endpoints(contract):
    # Responses binds reasoning_effort to reasoning.effort: the same checks, a nested path.
    assert validate_parameters({"reasoning": {"effort": "high"}}, contract, "responses") == {"reasoning_effort": "high"}
    for body, param in (({"reasoning": {"effort": "max"}}, "reasoning.effort"), ({"reasoning": "high"}, "reasoning")):
        with pytest.raises(RequestRejected) as info:
            validate_parameters(body, contract, "responses")
        assert info.value.param == param and info.value.status == 400
    # A parameter not bound on an endpoint is not checked there (stop on /v1/responses).
    assert validate_parameters({"stop": 5}, contract, "responses") == {}


def test_validated_request_is_typed_and_complete(contract):
    body = {"model": contract.model, "messages": [{"role": "user", "content": "Hi"}], "seed": 3,
            "stream": True, "stream_options": {"include_usage": True}, "logprobs": True, "top_logprobs": 2}
    v = validate_request(body, contract, ENDPOINT, read_conversation)
    assert v.stream and v.include_usage and v.logprobs and v.top_logprobs == 2
    assert dict(v.given) == {"seed": 3, "logprobs": True, "top_logprobs": 2}
    assert v.parameters["temperature"] == contract.parameters["temperature"].default
    assert v.sampling.seed == 3 and v.sampling.top_logprobs == 2
    assert v.prompt_tokens == count_prompt_tokens(["Hi"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.sampled_from([10**400, -10**400]) | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1e308, 5e-324])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_input_never_gets_a_5xx(ref, contract, data):
    keys = [p.binding(ENDPOINT).wire_name for p in chat_params(contract)] + ["stream", "stream_options", "n"]
    body = data.draw(st.dictionaries(st.sampled_from(keys), json_values, max_size=4))
    body["model"] = data.draw(st.sampled_from([contract.model, contract.model, "other", 3]))
    body["messages"] = data.draw(st.sampled_from([
        [{"role": "user", "content": "hi"}], [{"role": "user", "content": "hi"}], [], "x",
        [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    ]) | st.lists(st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls", "tool_call_id"]),
                                  json_values, max_size=3), max_size=2))
    if body.get("max_tokens") is None:
        body["max_tokens"] = 3  # keeps 150 examples fast
    r = ref.request("POST", CHAT, content=json.dumps(body))
    assert r.status_code in (200, 400, 404), (body, r.text)
    if r.status_code == 200 and body.get("stream") is not True:
        assert r.json()["object"] == "chat.completion"
    elif r.status_code != 200:
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_huge_and_infinite_numbers_are_400_not_500(ref, contract):
    assert_rejected(ref.chat(temperature=10**400), 400, "temperature")
    r = ref.request("POST", CHAT, content=json.dumps(ref.body()).replace("{", '{"temperature": 1e400, ', 1))
    assert_rejected(r, 400, "temperature")  # 1e400 parses as inf
    assert_rejected(ref.chat(max_tokens=10**400), 400, "max_tokens")
