"""The reference server as a Starlette app: routing, authentication, per-request faults.

Every answer to bad input is a 4xx in the protocol's own error shape; an unexpected
exception becomes a bare 500 whose body reveals nothing (the traceback goes to the log).
Besides the three chat endpoints and ``/v1/models``, ``GET /v1/conformance/ledger`` reports
what the server has billed (a reference-server-only extension, `conformance.server.billing`).
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.server import chat_completions, messages, responses
from conformance.server.billing import Ledger
from conformance.server.errors import (
    Family,
    RequestRejected,
    error_response,
    family_of_path,
    internal_error_response,
)
from conformance.server.faults import FAULTS_HEADER, Faults
from conformance.server.latency import LatencyModel
from conformance.server.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from conformance.server.state import ServerState
from conformance.suite.model import Contract

log = logging.getLogger(__name__)

Handler = Callable[[Request, ServerState, Faults], Awaitable[Response]]


class _Revealable(Protocol):
    def reveal(self) -> str: ...


def _key_text(api_key: str | _Revealable | None) -> str | None:
    # A conformance.secrets.Secret works as well as a plain string.
    if api_key is None or isinstance(api_key, str):
        return api_key
    return api_key.reveal()


def _presented_keys(request: Request) -> list[str]:
    keys = []
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        keys.append(token.strip())
    if request.headers.get("x-api-key"):
        keys.append(request.headers["x-api-key"].strip())
    return keys


def _authenticate(request: Request, state: ServerState) -> None:
    if state.api_key is None:
        return
    presented = _presented_keys(request)
    if not presented:
        raise RequestRejected(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
                                   "or 'x-api-key: <key>'.", None, "invalid_api_key")
    expected = state.api_key.encode()
    # Never echo the presented key: it may be a real key sent to the wrong server.
    if not any(hmac.compare_digest(key.encode(), expected) for key in presented):
        raise RequestRejected(401, "Incorrect API key provided.", None, "invalid_api_key")


def _request_faults(request: Request) -> Faults:
    try:
        return Faults.from_header(request.headers.get(FAULTS_HEADER))
    except ValueError as exc:
        raise RequestRejected(400, f"{FAULTS_HEADER}: {exc}", None, "invalid_fault") from None


def _endpoint(state: ServerState, family: Family, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        faults = state.faults
        try:
            faults = state.faults | _request_faults(request)
            if "auth_disabled" not in faults:
                _authenticate(request, state)
            return await handler(request, state, faults)
        except RequestRejected as rejection:
            if rejection.code == "invalid_json" and "malformed_json_500" in faults:
                return internal_error_response(family)
            return error_response(rejection, family, faults)
        except Exception:
            log.exception("reference server: unexpected error on %s %s", request.method, request.url.path)
            return internal_error_response(family)

    return run


def _model_object(state: ServerState) -> dict[str, Any]:
    return {"id": state.contract.model, "object": "model", "created": state.started,
            "owned_by": state.contract.provider.name}


async def list_models(request: Request, state: ServerState, faults: Faults) -> Response:
    return JSONResponse({"object": "list", "data": [_model_object(state)]})


async def retrieve_model(request: Request, state: ServerState, faults: Faults) -> Response:
    model = request.path_params["model"]
    if model != state.contract.model:
        raise RequestRejected(404, f"The model `{model}` does not exist or you do not have access to it.",
                              None, "model_not_found")
    return JSONResponse(_model_object(state))


async def ledger(request: Request, state: ServerState, faults: Faults) -> Response:
    return JSONResponse(state.ledger.as_json())


def create_app(contract: Contract, *, api_key: str | _Revealable | None = None, faults: Faults | None = None,
               latency: LatencyModel | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Starlette:
    """The reference server for `contract`. With `api_key` None every request is accepted.

    `latency` paces every answer (time to first token, per-token delay, jitter); the default
    never sleeps. A body over `max_body_bytes` gets a 413 (`conformance.server.limits`).
    """
    state = ServerState(contract=contract, faults=faults or Faults(), ledger=Ledger(contract.pricing),
                        api_key=_key_text(api_key), latency=latency or LatencyModel())
    routes = [
        Route("/v1/chat/completions", _endpoint(state, "openai", chat_completions.create_chat_completion),
              methods=["POST"]),
        Route("/v1/responses", _endpoint(state, "openai", responses.create_response), methods=["POST"]),
        Route("/v1/messages", _endpoint(state, "anthropic", messages.create_message), methods=["POST"]),
        Route("/v1/models", _endpoint(state, "openai", list_models), methods=["GET"]),
        Route("/v1/models/{model:path}", _endpoint(state, "openai", retrieve_model), methods=["GET"]),
        Route("/v1/conformance/ledger", _endpoint(state, "openai", ledger), methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown paths and wrong methods, in the same error shape as everything else.
        assert isinstance(exc, HTTPException)
        rejection = RequestRejected(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                                    None, "not_found" if exc.status_code == 404 else "method_not_allowed")
        # A wrong method on /v1/messages is still answered in the Anthropic shape.
        return error_response(rejection, family_of_path(request.url.path))

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                    middleware=[Middleware(BodyLimit, max_bytes=max_body_bytes)])
    app.state.server = state  # tests and the CLI read the ledger from here
    return app
