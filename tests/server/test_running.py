"""The reference server over real HTTP, and the official OpenAI SDK against it."""
import socket

import httpx
import openai
import pytest

from conformance.server import create_app, start_server

KEY = "test-key-123"


@pytest.fixture(scope="module")
def server(contract):
    with start_server(create_app(contract, api_key=KEY)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=10)


MESSAGES = [{"role": "user", "content": "Write a haiku about the ocean."}]


def test_serves_real_http_on_a_free_port(server, contract):
    assert server.port > 0
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    r = httpx.get(f"{server.base_url}/models", headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json()["data"][0]["id"] == contract.model
    assert httpx.get(f"{server.base_url}/models").status_code == 401


def test_stop_releases_the_port(contract):
    running = start_server(create_app(contract))
    url = f"{running.base_url}/models"
    assert httpx.get(url).status_code == 200
    running.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_two_servers_get_different_ports(contract):
    with start_server(create_app(contract)) as a, start_server(create_app(contract)) as b:
        assert a.port != b.port


def test_port_in_use_raises(contract):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        with pytest.raises(OSError):
            start_server(create_app(contract), port=blocker.getsockname()[1])
    finally:
        blocker.close()


def test_openai_sdk_non_stream(client, contract):
    completion = client.chat.completions.create(model=contract.model, messages=MESSAGES, seed=1)
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert choice.finish_reason == "stop" and choice.message.role == "assistant" and choice.message.content
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    with_logprobs = client.chat.completions.create(model=contract.model, messages=MESSAGES, seed=1,
                                                   logprobs=True, top_logprobs=3)
    assert "".join(t.token for t in with_logprobs.choices[0].logprobs.content) == choice.message.content


def test_openai_sdk_stream(client, contract):
    chunks = list(client.chat.completions.create(model=contract.model, messages=MESSAGES, seed=2, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    reference = client.chat.completions.create(model=contract.model, messages=MESSAGES, seed=2)
    assert text == reference.choices[0].message.content


def test_openai_sdk_stream_helper_accumulates(client, contract):
    with client.chat.completions.stream(model=contract.model, messages=MESSAGES, seed=3,
                                        extra_body={"enable_thinking": True}) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.role == "assistant" and message.content == "".join(deltas)
    assert final.choices[0].finish_reason == "stop"
    reference = client.chat.completions.create(model=contract.model, messages=MESSAGES, seed=3)
    assert message.content == reference.choices[0].message.content


def test_openai_sdk_maps_errors(server, client, contract):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=contract.model, messages=MESSAGES, temperature=3)
    assert info.value.param == "temperature" and info.value.code == "decimal_above_max_value"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=MESSAGES)
    assert info.value.code == "model_not_found"
    wrong = openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model=contract.model, messages=MESSAGES)
    assert [m.id for m in client.models.list()] == [contract.model]
