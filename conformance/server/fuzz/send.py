"""Sending one `HostileRequest` with httpx, in-process or over HTTP alike."""
from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from conformance.server.fuzz.hostile import HostileRequest
from conformance.server.fuzz.judge import Answer

__all__ = ["send"]

_PIECE = 65_536


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), _PIECE):
        yield body[i:i + _PIECE]


async def send(client: httpx.AsyncClient, request: HostileRequest) -> Answer:
    """The answer, or `Answer(None, error=...)` when the exchange itself failed (timeout, reset)."""
    # An async generator has no length, so httpx sends it chunked, without Content-Length.
    content = _pieces(request.body) if request.chunked and request.body else request.body
    try:
        response = await client.request(request.method, request.path, content=content, headers=dict(request.headers))
    except httpx.HTTPError as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}")
    return Answer(response.status_code, response.content)
