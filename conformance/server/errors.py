"""Request rejections and how each protocol family spells them on the wire.

Validation raises a protocol-neutral `RequestRejected`; the endpoint renders it in its
family's shape. OpenAI (Chat Completions, Responses):
``{"error": {"message", "type", "param", "code"}}``. Anthropic (Messages):
``{"type": "error", "error": {"type", "message"}}``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from starlette.responses import Response

from conformance.server.faults import Faults

Family = Literal["openai", "anthropic"]

# What error_without_param says instead: deliberately names no parameter.
_ANONYMOUS_MESSAGE = "The request contains an invalid value."

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


# Not frozen: contextlib and anyio assign __traceback__ on exceptions passing through them.
@dataclass(eq=False)
class RequestRejected(Exception):
    """A request the server refuses: always a 4xx (a 5xx is never the client's fault)."""

    status: int
    message: str
    param: str | None = None  # wire name (dotted/indexed path) of the offending field
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code or ''}: {self.message}"

    @property
    def is_parameter_error(self) -> bool:
        return self.status == 400 and self.param is not None


def family_of_path(path: str) -> Family:
    """The error shape of a path outside any handler: Anthropic's on /v1/messages, OpenAI's elsewhere."""
    return "anthropic" if path.rstrip("/") == "/v1/messages" else "openai"


def apply_faults(rejection: RequestRejected, faults: Faults) -> RequestRejected:
    """The rejection as a faulty server would send it."""
    if not rejection.is_parameter_error:
        return rejection
    status, message, param = rejection.status, rejection.message, rejection.param
    if "error_without_param" in faults:
        message, param = _ANONYMOUS_MESSAGE, None
    if "invalid_param_status_422" in faults:
        status = 422
    return RequestRejected(status, message, param, rejection.code)


def openai_body(rejection: RequestRejected) -> dict:
    # OpenAI answers a bad key with type invalid_request_error and code invalid_api_key.
    kind = "server_error" if rejection.status >= 500 else "invalid_request_error"
    return {"error": {"message": rejection.message, "type": kind,
                      "param": rejection.param, "code": rejection.code}}


def anthropic_body(rejection: RequestRejected) -> dict:
    kind = _ANTHROPIC_TYPES.get(rejection.status, "api_error" if rejection.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": rejection.message}}


def error_response(rejection: RequestRejected, family: Family, faults: Faults | None = None) -> Response:
    shown = apply_faults(rejection, faults or Faults())
    if "messages_openai_errors" in (faults or Faults()):
        family = "openai"  # the classic mistake of an OpenAI-first server that bolted on /v1/messages
    body = openai_body(shown) if family == "openai" else anthropic_body(shown)
    return Response(json.dumps(body), status_code=shown.status, media_type="application/json")


def internal_error_response(family: Family) -> Response:
    """A 500 that says nothing about the cause: tracebacks stay in the server log."""
    message = "The server had an error while processing your request."
    if family == "openai":
        body: dict = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    else:
        body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return Response(json.dumps(body), status_code=500, media_type="application/json")
