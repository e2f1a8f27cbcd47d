"""Shared fixtures: the default contract, an in-process client for the reference app, and the
official SDKs against the reference server over real HTTP (`sdk_server`, `oa`, `an`)."""
from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from conformance.server import Faults, create_app, start_server
from conformance.server.running import RunningServer
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.suite.model import Contract

CHAT = "/v1/chat/completions"
SDK_KEY = "k"
PROMPT = [{"role": "user", "content": "Write a haiku about the ocean."}]


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract(DEFAULT_CONTRACT)


class Ref:
    """Synchronous façade over httpx.ASGITransport (pytest-asyncio is not installed)."""

    def __init__(self, app: Any, model: str):
        self.app = app
        self.model = model

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://ref")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with self._client() as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def body(self, **fields: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": PROMPT, **fields}

    def chat(self, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
        return self.request("POST", CHAT, json=self.body(**fields), headers=headers)

    def chats(self, bodies: Iterable[dict[str, Any]], headers: dict[str, str] | None = None) -> list[httpx.Response]:
        """Many chat requests on one event loop (cheaper than one asyncio.run each)."""

        async def go() -> list[httpx.Response]:
            async with self._client() as client:
                return [await client.post(CHAT, json=b, headers=headers) for b in bodies]

        return asyncio.run(go())

    @property
    def ledger(self):
        return self.app.state.server.ledger


@pytest.fixture
def ref(contract: Contract) -> Ref:
    return Ref(create_app(contract), contract.model)


@pytest.fixture
def make_ref(contract: Contract):
    def make(*, api_key: str | None = None, faults: list[str] | None = None) -> Ref:
        return Ref(create_app(contract, api_key=api_key, faults=Faults.parse(faults or [])), contract.model)

    return make


def sse_payloads(text: str) -> list[str]:
    """The data payloads of a data-only SSE body; asserts the framing on the way."""
    assert text.endswith("\n\n"), "every frame ends with a blank line"
    frames = text[:-2].split("\n\n")
    payloads = []
    for frame in frames:
        assert frame.startswith("data: ") and "\n" not in frame, frame
        payloads.append(frame[len("data: "):])
    return payloads


def sse_chunks(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of a chat stream (everything before the [DONE] terminator)."""
    payloads = sse_payloads(text)
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


@pytest.fixture(scope="module")
def sdk_server(contract: Contract) -> Iterator[RunningServer]:
    """The reference server over real HTTP behind `SDK_KEY`, one per test module."""
    with start_server(create_app(contract, api_key=SDK_KEY)) as running:
        yield running


@pytest.fixture(scope="module")
def oa(sdk_server: RunningServer):
    import openai

    return openai.OpenAI(base_url=sdk_server.base_url, api_key=SDK_KEY, max_retries=0, timeout=10)


@pytest.fixture(scope="module")
def an(sdk_server: RunningServer):
    import anthropic

    # SDK 2.x sends the key as a Bearer token and its own anthropic-version: both must be accepted.
    return anthropic.Anthropic(base_url=sdk_server.origin, api_key=SDK_KEY, max_retries=0, timeout=10)


@pytest.fixture
def sdk_warnings_are_errors() -> Iterator[None]:
    """For SDK-judged modules: a validation or deprecation warning means the SDK disliked what it parsed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
