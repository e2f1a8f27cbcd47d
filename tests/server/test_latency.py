"""Simulated latency: the spec string, the delays, and a zero model that never sleeps."""
import asyncio
import random

import pytest

from conformance.server import latency
from conformance.server.latency import LatencyModel


def test_parse_full_partial_and_empty():
    assert LatencyModel.parse("ttft=100,token=20,jitter=5") == LatencyModel(100, 20, 5)
    assert LatencyModel.parse(" token = 2.5 ") == LatencyModel(per_token_ms=2.5)
    assert LatencyModel.parse("") == LatencyModel() == LatencyModel.parse(",")
    assert LatencyModel().is_zero and not LatencyModel(jitter_ms=1).is_zero


@pytest.mark.parametrize("spec", [
    "ttft", "ttft=", "ttft=fast", "ttft=-1", "ttft=nan", "token=inf", "delay=5", "ttft=1,ttft=2", "ttft:100",
    "100",
])
def test_parse_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="latency"):
        LatencyModel.parse(spec)


def test_constructor_rejects_bad_values():
    for kwargs in ({"ttft_ms": -1}, {"per_token_ms": float("inf")}, {"jitter_ms": True}, {"ttft_ms": "5"}):
        with pytest.raises(ValueError):
            LatencyModel(**kwargs)


def test_str_round_trips():
    for model in (LatencyModel(), LatencyModel(100, 20, 5), LatencyModel(0.5, 0, 2.25)):
        assert LatencyModel.parse(str(model)) == model
    assert str(LatencyModel(100, 20, 5)) == "ttft=100,token=20,jitter=5"


def test_delays_without_jitter_are_exact_and_leave_the_rng_alone():
    model = LatencyModel(ttft_ms=150, per_token_ms=20)
    rng = random.Random(3)
    state = rng.getstate()
    assert model.first_delay(rng) == 0.15 and model.token_delay(rng) == 0.02
    assert rng.getstate() == state


def test_jitter_stays_in_range_never_negative_and_is_seeded():
    model = LatencyModel(ttft_ms=10, per_token_ms=2, jitter_ms=5)
    rng = random.Random(1)
    firsts = [model.first_delay(rng) for _ in range(500)]
    tokens = [model.token_delay(rng) for _ in range(500)]
    assert all(0.005 <= d <= 0.015 for d in firsts) and len(set(firsts)) > 400
    assert all(0 <= d <= 0.007 for d in tokens) and tokens.count(0.0) > 0  # clamped at zero
    assert [model.first_delay(random.Random(9)) for _ in range(3)] == [model.first_delay(random.Random(9))] * 3


def test_zero_model_never_sleeps(monkeypatch):
    calls = []

    async def fake_sleep(seconds):
        calls.append(seconds)

    monkeypatch.setattr(latency.asyncio, "sleep", fake_sleep)

    async def run(model):
        rng = random.Random(0)
        await model.wait_first(rng)
        for _ in range(50):
            await model.wait_token(rng)

    asyncio.run(run(LatencyModel()))
    asyncio.run(run(LatencyModel.parse("ttft=0,token=0,jitter=0")))
    assert calls == []
    asyncio.run(run(LatencyModel(ttft_ms=30, per_token_ms=4)))
    assert calls == [0.03] + [0.004] * 50


def test_real_sleep_takes_about_that_long():
    model = LatencyModel(ttft_ms=30)

    async def timed():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await model.wait_first(random.Random(0))
        return loop.time() - start

    assert asyncio.run(timed()) >= 0.025
