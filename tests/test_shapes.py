"""Shapes: values out, structure in; and a changed structure is a failed snapshot with a diff."""
from __future__ import annotations

import asyncio
import difflib
import json
import textwrap
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.protocols import wire_protocols
from conformance.protocols.base import ChatRequest, Turn
from conformance.secrets import Secret
from conformance.server.app import create_app
from conformance.server.faults import Faults
from conformance.shapes import (
    ShapeSnapshotExtension,
    collapse,
    exchange_shape,
    shape_of,
    stream_shape,
)
from conformance.suite.model import Contract
from conformance.transport.client import Client, Exchange, TimedEvent
from conformance.transport.sse import SSEEvent
from tests.conftest import TEST_KEY

pytest_plugins = ["pytester"]


def test_scalars_become_their_types_and_null_stays() -> None:
    assert shape_of({"a": "x", "b": 1, "c": 1.5, "d": True, "e": None}) == {
        "a": "<str>", "b": "<int>", "c": "<float>", "d": "<bool>", "e": None}


def test_ids_and_timestamps_are_masked_only_when_they_have_their_type() -> None:
    body = {"id": "chatcmpl-1", "item_id": "msg_1", "call_id": "call_9", "system_fingerprint": "fp_1",
            "created": 1700000000, "created_at": 1700000000.5, "previous_response_id": None}
    assert shape_of(body) == {"id": "<id>", "item_id": "<id>", "call_id": "<id>", "system_fingerprint": "<id>",
                              "created": "<timestamp>", "created_at": "<timestamp>", "previous_response_id": None}
    # A provider that starts sending numeric ids or string timestamps changed its shape.
    assert shape_of({"id": 7, "created": "2024-01-01"}) == {"id": "<int>", "created": "<str>"}


def test_enum_values_are_kept() -> None:
    body = {"object": "chat.completion", "type": "message", "role": "assistant", "finish_reason": "length",
            "status": "incomplete", "stop_reason": "max_tokens", "event": "message_stop", "model": "gemma-4-e4b"}
    assert shape_of(body) == {**body, "model": "<str>"}


def test_lists_keep_their_distinct_element_shapes_in_order_not_their_length() -> None:
    one = {"index": 0, "text": "a"}
    assert shape_of([one]) == shape_of([one, {"index": 1, "text": "b"}, one]) == [{"index": "<int>", "text": "<str>"}]
    assert shape_of([{"type": "reasoning"}, {"type": "message"}, {"type": "reasoning"}]) == [
        {"type": "reasoning"}, {"type": "message"}]
    assert shape_of([]) == []
    assert shape_of([1, "a", 2]) == ["<int>", "<str>"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "type", "created", "x", "item_id", "n"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(_json)
def test_shaping_a_shape_changes_nothing(value: Any) -> None:
    once = shape_of(value)
    assert shape_of(once) == once
    json.dumps(once)  # always JSON, whatever went in


def test_collapse_marks_runs_of_two_or_more() -> None:
    assert collapse(["role", "content", "content", "content", "finish:stop", "[DONE]"]) == [
        "role", "content*", "finish:stop", "[DONE]"]
    assert collapse(["a", "b", "a", "a"]) == ["a", "b", "a*"]
    assert collapse([]) == []


def _exchange(endpoint: str, frames: list[tuple[str, Any]]) -> Exchange:
    events = [TimedEvent(i, SSEEvent(event=name, data=data if isinstance(data, str) else json.dumps(data)))
              for i, (name, data) in enumerate(frames)]
    return Exchange(endpoint=endpoint, url="http://x/v1", request_body={}, stream=True, status=200,
                    headers={"content-type": "text/event-stream; charset=utf-8"}, events=events)


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None,
           choices: bool = True) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [], "usage": usage}


def test_chat_stream_is_its_sequence_of_chunk_kinds() -> None:
    frames = [("message", _chunk({"role": "assistant", "content": ""})),
              ("message", _chunk({"reasoning_content": "hm"})),
              ("message", _chunk({"reasoning_content": " ok"})),
              ("message", _chunk({"content": "Hi"})),
              ("message", _chunk({"content": " there"})),
              ("message", _chunk({"content": "!"})),
              ("message", _chunk({}, finish="stop")),
              ("message", _chunk({}, usage={"prompt_tokens": 1}, choices=False)),
              ("message", "[DONE]")]

    shape = stream_shape(_exchange("chat_completions", frames), "chat_completions")

    assert shape["status"] == 200 and shape["content_type"] == "text/event-stream"
    assert shape["sequence"] == ["role", "reasoning_content*", "content*", "finish:stop", "usage", "[DONE]"]
    assert shape["shapes"]["content"] == [{"id": "<id>", "object": "chat.completion.chunk", "created": "<timestamp>",
                                           "choices": [{"index": "<int>", "delta": {"content": "<str>"},
                                                        "finish_reason": None}], "usage": None}]
    assert "[DONE]" not in shape["shapes"]


def test_a_chunk_carrying_two_kinds_is_labelled_with_both() -> None:
    merged = _chunk({"content": "!"}, finish="stop", usage={"prompt_tokens": 1})
    assert stream_shape(_exchange("chat_completions", [("message", merged)]))["sequence"] == [
        "content+finish:stop+usage"]


def test_named_event_stream_is_its_event_names_with_every_payload_shape() -> None:
    frames = [("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message"}}),
              ("content_block_delta", {"type": "content_block_delta", "delta": {"type": "thinking_delta",
                                                                                  "thinking": "a"}}),
              ("content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "b"}}),
              ("content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "c"}}),
              ("message_stop", {"type": "message_stop"}),
              ("message", "not json")]

    shape = stream_shape(_exchange("messages", frames), "messages")

    assert shape["sequence"] == ["message_start", "content_block_delta*", "message_stop", "message"]
    assert [s["delta"]["type"] for s in shape["shapes"]["content_block_delta"]] == ["thinking_delta", "text_delta"]
    assert "message" not in shape["shapes"]


def _answer(contract: Contract, faults: list[str]) -> Exchange:
    app = create_app(contract, api_key=TEST_KEY, faults=Faults.parse(faults))
    wire = wire_protocols(contract)["chat_completions"]
    request = ChatRequest([Turn("user", "Hello")], params={"max_tokens": 8})

    async def go() -> Exchange:
        async with Client("http://reference/v1", Secret(TEST_KEY, "test"),
                          transport=httpx.ASGITransport(app=app)) as client:
            return await client.send(wire.protocol, wire.body(request))
    return asyncio.run(go())


def test_two_answers_share_a_shape_and_a_wrong_object_changes_it(contract: Contract) -> None:
    extension = ShapeSnapshotExtension()
    clean, again, broken = (extension.serialize(_answer(contract, faults))
                            for faults in ([], [], ["wrong_object"]))

    assert clean == again  # other text, other ids, other timestamps: the same shape
    diff = [line for line in difflib.unified_diff(str(clean).splitlines(), str(broken).splitlines(), lineterm="")
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff == ['-    "object": "chat.completion",', '+    "object": "chat.completions",']


def test_exchange_shape_of_a_non_json_body() -> None:
    exchange = Exchange(endpoint="chat_completions", url="http://x/v1", request_body={}, stream=False, status=502,
                        headers={"content-type": "text/html"}, body=b"<html>bad gateway</html>")
    assert exchange_shape(exchange) == {"status": 502, "content_type": "text/html", "body": "<not json>"}


def test_syrupy_fails_a_changed_shape_with_a_readable_diff(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The snapshot is taken on a clean server, then asserted against one with wrong_object on.
    pytester.makepyfile(test_shape=textwrap.dedent('''
        import asyncio, os
        import httpx
        from conformance.protocols import wire_protocols
        from conformance.protocols.base import ChatRequest, Turn
        from conformance.server.app import create_app
        from conformance.server.faults import Faults
        from conformance.shapes import ShapeSnapshotExtension
        from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
        from conformance.transport.client import Client

        def test_chat_shape(snapshot):
            contract = load_contract(DEFAULT_CONTRACT)
            faults = Faults.parse(os.environ.get("FAULTS", "").split(",") if os.environ.get("FAULTS") else [])
            app = create_app(contract, faults=faults)
            wire = wire_protocols(contract)["chat_completions"]
            body = wire.body(ChatRequest([Turn("user", "Hello")], params={"max_tokens": 8}))

            async def go():
                async with Client("http://ref/v1", None, transport=httpx.ASGITransport(app=app)) as client:
                    return await client.send(wire.protocol, body)
            assert asyncio.run(go()) == snapshot(extension_class=ShapeSnapshotExtension)
    '''))
    created = pytester.runpytest("--snapshot-update", "-p", "no:cacheprovider")
    created.assert_outcomes(passed=1)
    assert (pytester.path / "__snapshots__" / "test_shape" / "test_chat_shape.json").is_file()

    monkeypatch.setenv("FAULTS", "wrong_object")
    broken = pytester.runpytest("-p", "no:cacheprovider")

    broken.assert_outcomes(failed=1)
    broken.stdout.fnmatch_lines(['*- *"object": "chat.completion",*', '*+ *"object": "chat.completions",*'])
