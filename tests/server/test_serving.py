"""Serving: the cost header and the ledger endpoint, the latency model, and `conformance serve --latency`."""
from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time

import httpx
import pytest
import uvicorn

from conformance.cli import main
from conformance.server import create_app, latency, start_server
from conformance.server.billing import COST_HEADER
from conformance.server.latency import LatencyModel
from conformance.transport.client import Client, Exchange

from .bodies import CHAT, CONTRACT, ENDPOINTS, body, send

PRICE = f"{CONTRACT.pricing.per_successful_message:g} {CONTRACT.pricing.currency}"


def ask(app, endpoint: str, *, stream: bool = False, key: str | None = None, **fields) -> Exchange:
    fields = {"seed": 2, "max_tokens": 8, "enable_thinking": False, **fields}
    if stream:
        fields["stream"] = True
    return send(app, endpoint, body(endpoint, "Say hi.", **fields), stream=stream, key=key)


# --------------------------------------------------------------------------- billing


def test_every_successful_answer_carries_its_cost():
    app = create_app(CONTRACT)
    answers = [ask(app, e, stream=s) for e in ENDPOINTS for s in (False, True)]
    assert [ex.headers.get(COST_HEADER) for ex in answers] == [PRICE] * 6
    rejected = ask(app, CHAT, temperature=9)
    assert rejected.status == 400 and COST_HEADER not in rejected.headers
    assert len(app.state.server.ledger.charges) == 6


def test_the_ledger_endpoint():
    app = create_app(CONTRACT, api_key="k")
    ids = [ask(app, e, key="k").json()["id"] for e in ENDPOINTS]
    ask(app, CHAT, key="k", temperature=9)
    streamed = ask(app, CHAT, stream=True, key="k")
    ids.append(json.loads(streamed.events[0].event.data)["id"])
    ledger = send_get(app, "/v1/conformance/ledger", "k")
    assert ledger.status_code == 200
    price = CONTRACT.pricing.per_successful_message
    assert ledger.json() == {
        "currency": CONTRACT.pricing.currency, "messages": 4, "total": pytest.approx(4 * price),
        "charges": [{"endpoint": e, "response_id": i, "amount": price} for e, i in zip([*ENDPOINTS, CHAT], ids)],
    }
    assert send_get(app, "/v1/conformance/ledger", None).status_code == 401
    assert send_get(app, "/v1/conformance/ledger", "wrong").status_code == 401


def send_get(app, path: str, key: str | None) -> httpx.Response:
    async def go() -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ref") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


# --------------------------------------------------------------------------- latency


def test_the_default_model_never_sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(latency, "_sleep", lambda seconds: _record(slept, seconds))
    app = create_app(CONTRACT)
    for endpoint in ENDPOINTS:
        ask(app, endpoint)
        ask(app, endpoint, stream=True)
    assert slept and not any(slept)  # consulted, and always zero


async def _record(slept: list[float], seconds: float) -> None:
    slept.append(seconds)


TTFT_MS, TOKEN_MS = 80, 15


@pytest.fixture(scope="module")
def slow_server():
    with start_server(create_app(CONTRACT, latency=LatencyModel(ttft_ms=TTFT_MS, per_token_ms=TOKEN_MS))) as running:
        yield running


def is_content(data: str) -> bool:
    return '"content":"' in data and '"content":""' not in data


def over_http(server, **fields) -> Exchange:
    async def go() -> Exchange:
        async with Client(server.base_url, None) as client:
            return await client.send(CONTRACT.endpoints[CHAT], body(CHAT, "Say hi.", **fields),
                                     stream=bool(fields.get("stream")), is_content=lambda e: is_content(e.data))

    return asyncio.run(go())


def test_a_stream_waits_for_its_first_token_then_paces_the_rest(slow_server):
    ex = over_http(slow_server, seed=2, max_tokens=6, enable_thinking=False, stream=True)
    t = ex.timings
    assert t.ms(t.headers_ns) < TTFT_MS  # headers and the role chunk go out at once
    assert t.ms(t.first_content_ns) >= TTFT_MS
    content = [e.at_ns for e in ex.events if is_content(e.event.data)]
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(content)]
    # The client's clock reads each frame a little late or early; the pace shows in the sum and the median.
    assert len(gaps) == 5 and sum(gaps) >= 5 * TOKEN_MS * 0.9 and statistics.median(gaps) >= TOKEN_MS * 0.8, gaps


def test_a_body_arrives_when_its_stream_would_have_ended(slow_server):
    start = time.perf_counter()
    ex = over_http(slow_server, seed=2, max_tokens=6, enable_thinking=False)
    elapsed = (time.perf_counter() - start) * 1000
    tokens = ex.json()["usage"]["completion_tokens"]
    assert tokens == 6 and elapsed >= TTFT_MS + (tokens - 1) * TOKEN_MS


# --------------------------------------------------------------------------- the command line


def test_serve_latency_option(monkeypatch, capsys):
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(app))
    assert main(["serve", "--latency", "ttft=100,token=20,jitter=5"]) == 0
    assert served[0].state.server.latency == LatencyModel(100, 20, 5)
    assert main(["serve"]) == 0 and served[1].state.server.latency.is_zero
    assert main(["serve", "--latency", "ttft=soon"]) == 2
    assert "latency" in capsys.readouterr().err
