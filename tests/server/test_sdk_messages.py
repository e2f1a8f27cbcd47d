"""The official Anthropic SDK as the judge of /v1/messages, over real HTTP: any SDK warning fails."""
from __future__ import annotations

import warnings
from collections.abc import Iterator

import anthropic
import pytest

from conformance.server import create_app, start_server
from conformance.server.running import RunningServer
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

CONTRACT = load_contract(DEFAULT_CONTRACT)
KEY = "k"
MESSAGES = [{"role": "user", "content": "Write a haiku about the ocean."}]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start_server(create_app(CONTRACT, api_key=KEY)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> anthropic.Anthropic:
    # SDK 2.x sends the key as a Bearer token and its own anthropic-version: both must be accepted.
    return anthropic.Anthropic(base_url=server.origin, api_key=KEY, max_retries=0, timeout=10)


@pytest.fixture(autouse=True)
def warnings_are_errors() -> Iterator[None]:
    # A validation or deprecation warning from the SDK means it did not like what it parsed.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_create(client):
    m = client.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, system="Be brief.",
                               extra_body={"seed": 1})
    assert m.id.startswith("msg_") and m.role == "assistant" and m.stop_reason == "end_turn"
    thinking, text = m.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and text.text
    assert m.usage.output_tokens > m.usage.output_tokens_details.thinking_tokens > 0


def test_stop_sequences_and_max_tokens(client):
    full = client.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES,
                                  extra_body={"seed": 2, "enable_thinking": False})
    assert [b.type for b in full.content] == ["text"]
    word = " " + full.content[0].text.split()[2]
    m = client.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, stop_sequences=[word],
                               extra_body={"seed": 2, "enable_thinking": False})
    assert (m.stop_reason, m.stop_sequence) == ("stop_sequence", word)
    m = client.messages.create(model=CONTRACT.model, max_tokens=3, messages=MESSAGES,
                               extra_body={"seed": 2, "enable_thinking": False})
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 3


def test_stream_final_message(client):
    with client.messages.stream(model=CONTRACT.model, max_tokens=200, messages=MESSAGES,
                                extra_body={"seed": 3}) as s:
        streamed_text = "".join(s.text_stream)
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking and final.content[0].signature
    assert final.content[1].text == streamed_text and final.stop_reason == "end_turn"
    same = client.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, extra_body={"seed": 3})
    assert [(b.type, getattr(b, "text", None), getattr(b, "thinking", None)) for b in same.content] == \
        [(b.type, getattr(b, "text", None), getattr(b, "thinking", None)) for b in final.content]
    assert same.usage.output_tokens == final.usage.output_tokens


def test_replaying_the_thinking_block(client):
    first = client.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, extra_body={"seed": 4})
    turns = [*MESSAGES, {"role": "assistant", "content": first.content}, {"role": "user", "content": "Again."}]
    again = client.messages.create(model=CONTRACT.model, max_tokens=200, messages=turns, extra_body={"seed": 4})
    assert again.content[-1].text


def test_range_error_names_the_parameter(client):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=CONTRACT.model, max_tokens=10, messages=MESSAGES, extra_body={"temperature": 3})
    assert info.value.status_code == 400 and "temperature" in str(info.value)
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_unknown_model_and_bad_key(client, server):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=10, messages=MESSAGES)
    stranger = anthropic.Anthropic(base_url=server.origin, api_key="not-the-key-0123", max_retries=0, timeout=10)
    with pytest.raises(anthropic.AuthenticationError) as info:
        stranger.messages.create(model=CONTRACT.model, max_tokens=10, messages=MESSAGES)
    assert info.value.body["error"]["type"] == "authentication_error"
