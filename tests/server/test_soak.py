"""Concurrency and billing: the ledger holds exactly the messages clients received, once each.

The disconnect rule is tested by driving the ASGI app by hand (the test decides when the client
hangs up, to the frame); the soak runs 256 concurrent exchanges of every kind against
`conformance serve` in its own process.
"""
from __future__ import annotations

import asyncio
import collections
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from conformance.server import create_app
from conformance.server.child import spawn_server
from conformance.server.latency import LatencyModel
from conformance.server.soak import (
    DEFAULT_TTFT_MS,
    expected_status,
    jobs,
    reconcile,
    run_jobs,
)

from .bodies import CONTRACT

PRICE = str(CONTRACT.pricing.per_successful_message)
# Seeded, so two runs of one body stream the same frames.
BODIES = {
    "/v1/chat/completions": {"model": CONTRACT.model, "max_tokens": 16, "stream": True, "seed": 7,
                             "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": CONTRACT.model, "max_output_tokens": 16, "stream": True, "seed": 7,
                      "input": "hi"},
    "/v1/messages": {"model": CONTRACT.model, "max_tokens": 16, "stream": True, "seed": 7,
                     "messages": [{"role": "user", "content": "hi"}]},
}


def _stream(app, path: str, hang_up_after: int | None) -> int:
    """Stream from `path`; the client hangs up once it has `hang_up_after` body frames. Frames received."""
    raw = json.dumps(BODIES[path]).encode()
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("ref", 80),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]}
    frames: list[bytes] = []

    async def go() -> None:
        gone = asyncio.Event()
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                frames.append(message["body"])
                if hang_up_after is not None and len(frames) >= hang_up_after:
                    gone.set()

        await asyncio.wait_for(app(scope, receive, send), 30)

    asyncio.run(go())
    return len(frames)


@pytest.mark.parametrize("path", BODIES)
def test_a_stream_delivered_to_the_end_is_billed_once(path):
    app = create_app(CONTRACT)
    _stream(app, path, None)
    assert app.state.server.ledger.as_json()["messages"] == 1


@pytest.mark.parametrize("path", BODIES)
def test_a_client_hanging_up_mid_stream_is_not_billed(path):
    # The wait before the first token keeps the stream mid-way when the client leaves.
    app = create_app(CONTRACT, latency=LatencyModel(ttft_ms=200))
    received = _stream(app, path, 1)
    assert received < _stream(create_app(CONTRACT), path, None)
    assert app.state.server.ledger.as_json()["messages"] == 0


@pytest.mark.parametrize("path", BODIES)
def test_a_client_hanging_up_after_the_last_frame_is_billed(path):
    total = _stream(create_app(CONTRACT), path, None)
    app = create_app(CONTRACT)
    _stream(app, path, total)
    assert app.state.server.ledger.as_json()["messages"] == 1


def _reconcile_against(outcomes, before, after):
    return reconcile(outcomes, before, after, PRICE)


def test_reconcile_catches_lost_extra_and_double_charges():
    from conformance.server.soak import Job, Outcome

    ok = Job("ok", "messages", True)
    outcomes = [Outcome(ok, 200, True, "a"), Outcome(ok, 200, True, "b"), Outcome(ok, 200, False, "c")]
    ledger = lambda *ids: {"total": round(0.03 * len(ids), 10),
                           "charges": [{"response_id": i, "amount": 0.03} for i in ids]}
    empty = ledger()
    assert _reconcile_against(outcomes, empty, ledger("a", "b")).exact
    assert _reconcile_against(outcomes, empty, ledger("a")).unbilled == ("b",)
    assert _reconcile_against(outcomes, empty, ledger("a", "b", "c")).unexpected == ("c",)
    assert _reconcile_against(outcomes, empty, ledger("a", "b", "b")).double == ("b",)


@pytest.mark.slow
def test_256_concurrent_mixed_exchanges_leave_the_ledger_exact(tmp_path: Path):
    work = jobs(512)
    assert {j.scenario for j in work} == {"ok", "bent", "crash", "invalid", "disconnect"}
    assert {(j.endpoint, j.stream) for j in work if j.scenario == "ok"} == {
        (e, s) for e in ("chat_completions", "responses", "messages") for s in (False, True)}
    with spawn_server(tmp_path / "server.log", "--latency", f"ttft={DEFAULT_TTFT_MS:g},token=1") as server:
        before = httpx.get(f"{server.base_url}/conformance/ledger", timeout=30).json()
        outcomes = asyncio.run(run_jobs(server.origin, work, CONTRACT.model, concurrency=256))
        after = httpx.get(f"{server.base_url}/conformance/ledger", timeout=30).json()
        assert server.alive()
    statuses = collections.Counter((o.job.scenario, o.status) for o in outcomes)
    assert [o for o in outcomes if o.status != expected_status(o.job)] == [], statuses
    result = _reconcile_against(outcomes, before, after)
    assert result.successes == sum(j.scenario in ("ok", "bent") for j in work)
    assert result.exact, result
    assert result.total == Decimal(PRICE) * result.successes
