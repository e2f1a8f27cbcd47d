"""The official Anthropic SDK as the judge of /v1/messages, over real HTTP: any SDK warning fails."""
from __future__ import annotations

import anthropic
import pytest

from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

CONTRACT = load_contract(DEFAULT_CONTRACT)
MESSAGES = [{"role": "user", "content": "Write a haiku about the ocean."}]

pytestmark = pytest.mark.usefixtures("sdk_warnings_are_errors")


def test_create(an):
    m = an.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, system="Be brief.",
                           extra_body={"seed": 1})
    assert m.id.startswith("msg_") and m.role == "assistant" and m.stop_reason == "end_turn"
    thinking, text = m.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and text.text
    assert m.usage.output_tokens > m.usage.output_tokens_details.thinking_tokens > 0


def test_stop_sequences_and_max_tokens(an):
    full = an.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES,
                              extra_body={"seed": 2, "enable_thinking": False})
    assert [b.type for b in full.content] == ["text"]
    word = " " + full.content[0].text.split()[2]
    m = an.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, stop_sequences=[word],
                           extra_body={"seed": 2, "enable_thinking": False})
    assert (m.stop_reason, m.stop_sequence) == ("stop_sequence", word)
    m = an.messages.create(model=CONTRACT.model, max_tokens=3, messages=MESSAGES,
                           extra_body={"seed": 2, "enable_thinking": False})
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 3


def test_stream_final_message(an):
    with an.messages.stream(model=CONTRACT.model, max_tokens=200, messages=MESSAGES,
                            extra_body={"seed": 3}) as s:
        streamed_text = "".join(s.text_stream)
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking and final.content[0].signature
    assert final.content[1].text == streamed_text and final.stop_reason == "end_turn"
    same = an.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, extra_body={"seed": 3})
    assert [(b.type, getattr(b, "text", None), getattr(b, "thinking", None)) for b in same.content] == \
        [(b.type, getattr(b, "text", None), getattr(b, "thinking", None)) for b in final.content]
    assert same.usage.output_tokens == final.usage.output_tokens


def test_replaying_the_thinking_block(an):
    first = an.messages.create(model=CONTRACT.model, max_tokens=200, messages=MESSAGES, extra_body={"seed": 4})
    turns = [*MESSAGES, {"role": "assistant", "content": first.content}, {"role": "user", "content": "Again."}]
    again = an.messages.create(model=CONTRACT.model, max_tokens=200, messages=turns, extra_body={"seed": 4})
    assert again.content[-1].text


def test_range_error_names_the_parameter(an):
    with pytest.raises(anthropic.BadRequestError) as info:
        an.messages.create(model=CONTRACT.model, max_tokens=10, messages=MESSAGES, extra_body={"temperature": 3})
    assert info.value.status_code == 400 and "temperature" in str(info.value)
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_unknown_model_and_bad_key(an, sdk_server):
    with pytest.raises(anthropic.NotFoundError):
        an.messages.create(model="nope", max_tokens=10, messages=MESSAGES)
    stranger = anthropic.Anthropic(base_url=sdk_server.origin, api_key="not-the-key-0123", max_retries=0, timeout=10)
    with pytest.raises(anthropic.AuthenticationError) as info:
        stranger.messages.create(model=CONTRACT.model, max_tokens=10, messages=MESSAGES)
    assert info.value.body["error"]["type"] == "authentication_error"
