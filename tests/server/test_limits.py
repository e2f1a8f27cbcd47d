"""Request size limit: 413 in the protocol's error shape, for a declared length and for a chunked body."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from conformance.server import create_app, start_server
from conformance.server.fuzz.judge import Answer, Judge
from conformance.server.limits import DEFAULT_MAX_BODY_BYTES

from .bodies import CONTRACT

LIMIT = 1000
PATHS = {"chat_completions": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


JUDGE = Judge(CONTRACT)


def _shape_problems(endpoint: str, response: httpx.Response) -> list[str]:
    assert response.status_code == 413
    return JUDGE.problems("POST", PATHS[endpoint], Answer(response.status_code, response.content))


def _valid_body(contract, endpoint: str, padding: int) -> bytes:
    text = "x" * padding
    body = {"model": contract.model, "max_tokens": 5}
    body.update({"input": text} if endpoint == "responses" else {"messages": [{"role": "user", "content": text}]})
    return json.dumps(body).encode()


async def _chunks(sizes: list[int], sent: list[int]) -> AsyncIterator[bytes]:
    for size in sizes:
        sent.append(size)
        yield b" " * size


def _post(app, path: str, content) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ref") as client:
            return await client.post(path, content=content, headers={"content-type": "application/json"})

    return asyncio.run(go())


@pytest.mark.parametrize("endpoint", PATHS)
def test_declared_length_over_the_limit_is_413_in_the_protocol_shape(contract, endpoint):
    app = create_app(contract, max_body_bytes=LIMIT)
    response = _post(app, PATHS[endpoint], b"{" + b" " * LIMIT + b"}")
    assert response.status_code == 413
    assert _shape_problems(endpoint, response) == []
    assert app.state.server.ledger.charges == ()


@pytest.mark.parametrize("endpoint", PATHS)
def test_a_body_at_the_limit_is_served(contract, endpoint):
    app = create_app(contract, max_body_bytes=LIMIT)
    body = _valid_body(contract, endpoint, 10)
    body = body[:-1] + b" " * (LIMIT - len(body)) + b"}"
    assert len(body) == LIMIT
    assert _post(app, PATHS[endpoint], body).status_code == 200


@pytest.mark.parametrize("endpoint", PATHS)
def test_chunked_body_is_counted_as_it_arrives_and_never_read_past_the_limit(contract, endpoint):
    app = create_app(contract, max_body_bytes=LIMIT)
    sent: list[int] = []
    response = _post(app, PATHS[endpoint], _chunks([100] * 100_000, sent))
    assert response.status_code == 413
    assert _shape_problems(endpoint, response) == []
    # Refused on the first chunk past the limit: the other 99,989 were never pulled from the client.
    assert sum(sent) <= LIMIT + 100


def test_chunked_body_under_the_limit_is_served(contract):
    app = create_app(contract, max_body_bytes=LIMIT)
    body = _valid_body(contract, "chat_completions", 10)
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    assert _post(app, PATHS["chat_completions"], chunks()).status_code == 200


def test_over_real_http_both_ways(contract):
    with start_server(create_app(contract, max_body_bytes=LIMIT)) as server, \
            httpx.Client(base_url=server.origin, timeout=10) as client:
        declared = client.post("/v1/messages", content=b"{" + b" " * 5000 + b"}")
        assert declared.status_code == 413 and declared.json()["error"]["type"] == "request_too_large"

        def chunked():
            for _ in range(50):
                yield b" " * 100

        streamed = client.post("/v1/chat/completions", content=chunked())
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "request_too_large"
        # The server keeps answering after refusing.
        assert client.get("/v1/models").status_code == 200


def test_the_default_leaves_room_for_one_maximal_base64_image():
    from conformance.server.images import MAX_IMAGE_BYTES

    assert DEFAULT_MAX_BODY_BYTES > MAX_IMAGE_BYTES * 4 / 3 + 64 * 1024


@pytest.mark.slow
def test_conformance_serve_takes_the_limit_from_the_command_line(tmp_path):
    from conformance.server.child import spawn_server

    with spawn_server(tmp_path / "server.log", "--max-body-bytes", "100") as server:
        refused = httpx.post(f"{server.base_url}/chat/completions", content=b"{" + b" " * 100 + b"}", timeout=10)
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "request_too_large"
        assert httpx.post(f"{server.base_url}/chat/completions", content=b"{}", timeout=10).status_code == 400


@pytest.mark.parametrize("endpoint", PATHS)
def test_a_small_body_of_countless_objects_is_refused_before_parsing(contract, endpoint):
    # ~1 MB on the wire, ~70 MB once parsed: refused from a count of its brackets.
    response = _post(create_app(contract), PATHS[endpoint], b"[" + b"{}," * 300_000 + b"{}]")
    assert response.status_code == 413 and _shape_problems(endpoint, response) == []
