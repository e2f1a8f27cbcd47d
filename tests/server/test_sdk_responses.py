"""The official OpenAI SDK as the judge of /v1/responses, over real HTTP: any SDK warning fails."""
from __future__ import annotations

import openai
import pytest

from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

CONTRACT = load_contract(DEFAULT_CONTRACT)
PROMPT = "Write a haiku about the ocean."

pytestmark = pytest.mark.usefixtures("sdk_warnings_are_errors")


def test_create(oa):
    r = oa.responses.create(model=CONTRACT.model, input=PROMPT, instructions="Be brief.",
                            extra_body={"seed": 1})
    assert r.id.startswith("resp_") and r.status == "completed" and r.output_text
    assert [item.type for item in r.output] == ["reasoning", "message"]
    assert r.output[0].summary[0].text
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.output_tokens_details.reasoning_tokens > 0


def test_create_incomplete_without_thinking(oa):
    r = oa.responses.create(model=CONTRACT.model, input=PROMPT, max_output_tokens=4,
                            reasoning={"effort": "low"}, extra_body={"seed": 2})
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert [item.type for item in r.output] == ["message"] and r.usage.output_tokens == 4


def test_stream_helper_events_and_final_response(oa):
    with oa.responses.stream(model=CONTRACT.model, input=PROMPT, extra_body={"seed": 3}) as s:
        events = list(s)
        final = s.get_final_response()
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert final.output_text == text and final.output[0].summary[0].text == summary
    same = oa.responses.create(model=CONTRACT.model, input=PROMPT, extra_body={"seed": 3})
    assert same.output_text == final.output_text


def test_raw_stream_iteration(oa):
    stream = oa.responses.create(model=CONTRACT.model, input=PROMPT, stream=True,
                                 extra_body={"seed": 4, "enable_thinking": False})
    events = list(stream)
    assert "response.reasoning_summary_part.added" not in {e.type for e in events}
    done = next(e for e in events if e.type == "response.output_text.done")
    assert events[-1].type == "response.completed" and events[-1].response.output_text == done.text


def test_range_error_names_the_parameter(oa):
    with pytest.raises(openai.BadRequestError) as info:
        oa.responses.create(model=CONTRACT.model, input=PROMPT, temperature=3)
    assert info.value.status_code == 400 and info.value.param == "temperature"
    assert "temperature" in str(info.value)
    with pytest.raises(openai.BadRequestError) as info:
        oa.responses.create(model=CONTRACT.model, input=PROMPT, reasoning={"effort": "extreme"})
    assert info.value.param == "reasoning.effort"


def test_unknown_model_and_bad_key(oa, sdk_server):
    with pytest.raises(openai.NotFoundError):
        oa.responses.create(model="nope", input=PROMPT)
    stranger = openai.OpenAI(base_url=sdk_server.base_url, api_key="not-the-key-0123", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError):
        stranger.responses.create(model=CONTRACT.model, input=PROMPT)
