import json

import pytest

from conformance.server import chat_completions
from conformance.server.tokens import count_prompt_tokens

from .conftest import CHAT, PROMPT, sse_chunks, sse_payloads


def stream(ref, headers=None, **fields):
    r = ref.chat(headers=headers, stream=True, **fields)
    assert r.status_code == 200, r.text
    return r


def content_of(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def reasoning_of(chunks):
    return "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])


# --------------------------------------------------------------------------- non-stream


def test_non_stream_body_shape(ref, contract):
    r = ref.chat(seed=1)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and len(body["id"]) > len("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == contract.model
    assert body["system_fingerprint"].startswith("fp_")
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["logprobs"] is None
    message = choice["message"]
    assert message["role"] == "assistant" and message["refusal"] is None
    assert isinstance(message["content"], str) and message["content"]
    assert message["reasoning_content"]  # thinking is on by default
    assert "tool_calls" not in message
    usage = body["usage"]
    assert usage["prompt_tokens"] == count_prompt_tokens([PROMPT[0]["content"]])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0
    assert usage["completion_tokens"] > usage["completion_tokens_details"]["reasoning_tokens"]


def test_thinking_off_has_no_reasoning(ref):
    for fields in ({"enable_thinking": False}, {"reasoning_effort": "low"}):
        body = ref.chat(seed=1, **fields).json()
        assert "reasoning_content" not in body["choices"][0]["message"]
        assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    body = ref.chat(seed=1, enable_thinking=False, reasoning_effort="medium").json()
    assert body["choices"][0]["message"]["reasoning_content"]


def test_seed_controls_output_over_http(ref):
    a, b, c = ref.chat(seed=42).json(), ref.chat(seed=42).json(), ref.chat(seed=43).json()
    assert a["choices"] == b["choices"] and a["usage"] == b["usage"]
    assert a["system_fingerprint"] == b["system_fingerprint"]
    assert a["choices"][0]["message"]["content"] != c["choices"][0]["message"]["content"]
    unseeded = {ref.chat().json()["choices"][0]["message"]["content"] for _ in range(3)}
    assert len(unseeded) == 3


def test_max_tokens_finish_length(ref):
    body = ref.chat(seed=3, max_tokens=4).json()
    assert body["choices"][0]["finish_reason"] == "length"
    reasoning = body["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert body["usage"]["completion_tokens"] == 4 + reasoning


def test_stop_finish_stop_and_text_cut(ref):
    full = ref.chat(seed=3).json()["choices"][0]["message"]["content"]
    word = " " + full.split()[3]
    body = ref.chat(seed=3, stop=[word, "zzz"]).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == full[: full.index(word)]


def test_logprobs_over_http(ref):
    body = ref.chat(seed=8, logprobs=True, top_logprobs=4).json()
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert choice["logprobs"]["refusal"] is None
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    for e in entries:
        assert e["logprob"] <= 0 and e["bytes"] == list(e["token"].encode())
        alts = [a["logprob"] for a in e["top_logprobs"]]
        assert len(alts) == 4 and alts == sorted(alts, reverse=True)
    plain = ref.chat(seed=8, logprobs=True).json()["choices"][0]["logprobs"]["content"]
    assert all(e["top_logprobs"] == [] for e in plain)


# --------------------------------------------------------------------------- stream


def test_stream_grammar(ref, contract):
    r = stream(ref, seed=5)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]" and payloads.count("[DONE]") == 1
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(p == json.dumps(json.loads(p), separators=(",", ":"), ensure_ascii=False) for p in payloads[:-1])
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == contract.model for c in chunks)
    assert all("usage" not in c for c in chunks)  # not asked for
    assert all(len(c["choices"]) == 1 and c["choices"][0]["index"] == 0 for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("role" not in d for d in deltas[1:])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes[:-1] == [None] * (len(chunks) - 1) and finishes[-1] == "stop"
    assert deltas[-1] == {}
    # Reasoning deltas all come before content deltas, one token each.
    kinds = [next(iter(d)) for d in deltas[1:-1]]
    assert kinds == sorted(kinds, key=lambda k: k != "reasoning_content") and set(kinds) == {"reasoning_content", "content"}


def test_stream_reconstructs_the_non_stream_answer(ref):
    chunks = sse_chunks(stream(ref, seed=9).text)
    body = ref.chat(seed=9).json()
    message = body["choices"][0]["message"]
    assert content_of(chunks) == message["content"]
    assert reasoning_of(chunks) == message["reasoning_content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == body["choices"][0]["finish_reason"]


def test_stream_usage_only_when_asked(ref):
    chunks = sse_chunks(stream(ref, seed=2, stream_options={"include_usage": True}).text)
    *body, last = chunks
    assert last["choices"] == [] and last["usage"]["total_tokens"] == (
        last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"])
    assert all(c["usage"] is None for c in body)
    assert body[-1]["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] == ref.chat(seed=2).json()["usage"]
    for options in (None, {"include_usage": False}, {}):
        chunks = sse_chunks(stream(ref, seed=2, stream_options=options).text)
        assert all(c["choices"] for c in chunks) and all(c.get("usage") is None for c in chunks)


def test_stream_length_and_logprobs(ref):
    chunks = sse_chunks(stream(ref, seed=2, max_tokens=3, logprobs=True, top_logprobs=2,
                               enable_thinking=False).text)
    content_chunks = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) == 3
    for c in content_chunks:
        [entry] = c["choices"][0]["logprobs"]["content"]
        assert entry["token"] == c["choices"][0]["delta"]["content"] and len(entry["top_logprobs"]) == 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_stream_errors_before_first_byte_use_status_and_json(ref):
    r = ref.chat(stream=True, temperature=9)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["param"] == "temperature"


# --------------------------------------------------------------------------- auth, models, misc


def test_auth_when_a_key_is_configured(make_ref):
    ref = make_ref(api_key="sekret-key")
    missing = ref.chat(max_tokens=1)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    wrong = ref.chat(headers={"authorization": "Bearer not-the-key-123"}, max_tokens=1)
    assert wrong.status_code == 401 and "not-the-key-123" not in wrong.text
    assert ref.chat(headers={"authorization": "Basic sekret-key"}, max_tokens=1).status_code == 401
    assert ref.chat(headers={"authorization": "Bearer sekret-key"}, max_tokens=1).status_code == 200
    assert ref.chat(headers={"x-api-key": "sekret-key"}, max_tokens=1).status_code == 200
    assert ref.request("GET", "/v1/models").status_code == 401
    # Auth comes before validation: a bad body without a key is still a 401.
    assert ref.request("POST", CHAT, content=b"{bad").status_code == 401


def test_no_key_configured_accepts_anything(ref):
    assert ref.chat(max_tokens=1).status_code == 200
    assert ref.chat(headers={"authorization": "Bearer whatever"}, max_tokens=1).status_code == 200


def test_models(ref, contract):
    body = ref.request("GET", "/v1/models").json()
    assert body["object"] == "list"
    [model] = body["data"]
    assert model["id"] == contract.model and model["object"] == "model" and isinstance(model["created"], int)
    assert ref.request("GET", f"/v1/models/{contract.model}").json() == model
    missing = ref.request("GET", "/v1/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_unknown_route_and_method_are_json_errors(ref):
    r = ref.request("GET", "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    r = ref.request("GET", CHAT)
    assert r.status_code == 405 and "error" in r.json()


def test_unexpected_exception_is_an_opaque_500(ref, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(chat_completions, "generate_answer", boom)
    r = ref.chat()
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "server_error" and "secret internals" not in r.text


def test_billing_counts_successful_messages_only(ref, contract):
    price = contract.pricing.per_successful_message
    ref.chat(max_tokens=1)
    ref.chat(temperature=5)
    ref.chat(model="other")
    stream(ref, max_tokens=1)
    charges = ref.ledger.charges
    assert len(charges) == 2 and {c.amount for c in charges} == {price}
    assert ref.ledger.total == pytest.approx(2 * price)
