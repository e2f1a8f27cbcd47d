"""Hostile requests against the reference server, in-process: never a 5xx, always the protocol's error shape."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from conformance.server import create_app
from conformance.server.fuzz.hostile import (
    HostileRequest,
    hostile_requests,
    named_cases,
)
from conformance.server.fuzz.judge import Answer, Judge
from conformance.server.fuzz.send import send

from .bodies import CONTRACT

APP = create_app(CONTRACT)
JUDGE = Judge(CONTRACT)
# Guards against a hang only; the budget below keeps the whole module well under a minute.
TIMEOUT_S = 60


def _exchange(requests: list[HostileRequest]) -> list[Answer]:
    async def go() -> list[Answer]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://ref",
                                     timeout=TIMEOUT_S) as client:
            return [await asyncio.wait_for(send(client, r), TIMEOUT_S) for r in requests]

    return asyncio.run(go())


def _failures(requests: list[HostileRequest]) -> list[str]:
    answers = _exchange(requests)
    return [f"{r.describe()} -> {a.status} {a.body[:200]!r}: {problems}"
            for r, a in zip(requests, answers) if (problems := JUDGE.problems(r.method, r.path, a))]


def test_named_hostile_requests_get_4xx_in_the_protocol_shape():
    assert _failures(named_cases(CONTRACT.model)) == []


@settings(max_examples=300, deadline=None, database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=list(HealthCheck))
@given(request=hostile_requests(CONTRACT.model))
def test_random_hostile_requests_get_4xx_in_the_protocol_shape(request):
    assert _failures([request]) == []


@pytest.mark.parametrize("stream", [False, True])
def test_the_server_still_serves_after_the_abuse(stream):
    from conformance.server.fuzz.hostile import encode, valid_body

    request = HostileRequest("valid", "POST", "/v1/chat/completions",
                             encode(valid_body("chat_completions", CONTRACT.model, stream=stream)))
    assert _exchange([request])[0].status == 200
