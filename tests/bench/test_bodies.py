"""Request variants: the drawn lengths, the protocol bodies, and the HTTP bytes."""
from __future__ import annotations

import json

from conformance.bench.bodies import Target, build_variants, thinking_params
from conformance.bench.scenario import Distribution, Load, RequestSpec, Scenario
from conformance.server.tokens import count_prompt_tokens


def scenario(**request) -> Scenario:
    return Scenario("b", ("chat_completions", "responses", "messages"), True,
                    RequestSpec(Distribution("uniform", (20, 40), 20, 40), Distribution("fixed", (8,)), **request),
                    Load("concurrency", (1.0,), 1.0, seed=3), {}, "")


def test_variants_cycle_endpoints_and_carry_the_key_only_in_the_wire(contract) -> None:
    variants = build_variants(scenario(variants=6, thinking=False), contract,
                              Target.parse("http://127.0.0.1:9000/v1"), "sk-secret")
    assert [v.endpoint for v in variants] == ["chat_completions", "responses", "messages"] * 2
    chat = variants[0].wire
    head, body = chat.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n")
    assert b"Authorization: Bearer sk-secret" in head and int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)
    parsed = json.loads(body)
    assert parsed["stream"] and parsed["stream_options"] == {"include_usage": True} and parsed["max_tokens"] == 8
    assert parsed["enable_thinking"] is False
    messages_head = variants[2].wire.split(b"\r\n\r\n")[0]
    assert b"anthropic-version: 2023-06-01" in messages_head
    scheme = contract.endpoints["messages"].auth_schemes[0]  # as the harness's own client sends it
    assert (b"x-api-key: sk-secret" if scheme == "x-api-key" else b"Authorization: Bearer sk-secret") in messages_head
    assert "sk-secret" not in json.dumps([v.describe() for v in variants])
    # the prompt is spelled so the reference server counts the drawn number of tokens
    text = parsed["messages"][0]["content"]
    assert count_prompt_tokens([text]) == variants[0].prompt_tokens


def test_same_seed_same_variants(contract) -> None:
    target = Target.parse("http://127.0.0.1:9000/v1")
    a = build_variants(scenario(variants=4), contract, target, None)
    b = build_variants(scenario(variants=4), contract, target, None)
    assert [v.wire for v in a] == [v.wire for v in b]
    assert b"Authorization" not in a[0].wire


def test_thinking_switch_follows_the_contract(contract) -> None:
    assert thinking_params(contract, "chat_completions", True) == {"enable_thinking": True}


def test_tools_and_images_are_in_the_body(contract) -> None:
    (v,) = build_variants(scenario(variants=1, tools=True, images=1), contract,
                          Target.parse("http://127.0.0.1:9000/v1"), None)
    body = json.loads(v.wire.split(b"\r\n\r\n", 1)[1])
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
