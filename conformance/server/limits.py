"""Request body size limit, enforced while the body is read: 413 in the protocol's error shape.

A declared ``Content-Length`` over the limit is refused before a byte of the body is read. A
chunked body (or one whose declared length lies) is counted chunk by chunk as the handler reads
it, and refused as soon as the count passes the limit, so no more than the limit plus one chunk
is ever held in memory.

The default, `DEFAULT_MAX_BODY_BYTES` = 32 MiB: images travel as base64 inside the JSON body,
and the server accepts images of up to `images.MAX_IMAGE_BYTES` (20 MiB decoded, about 26.7 MiB
as base64). The body limit sits above that so one maximal image still reaches the image check
and gets its more precise ``image_too_large`` answer; 32 MB is also Anthropic's documented
request size limit for the Messages API.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.server.errors import RequestRejected, error_response, family_of_path

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit", "body_too_large"]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


def body_too_large(limit: int) -> RequestRejected:
    return RequestRejected(413, f"Request body too large: at most {limit} bytes are accepted.", None,
                           "request_too_large")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length before we ever see it
    return None


class BodyLimit:
    """ASGI middleware: bodies over `max_bytes` get a 413 (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES):
        if max_bytes < 1:
            raise ValueError(f"the body limit must be at least 1 byte, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = error_response(body_too_large(self.max_bytes), family_of_path(scope.get("path", "")))
            response.headers["connection"] = "close"  # the unread body makes the connection unusable
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised into the handler reading the body, which answers it in its protocol's shape.
                    raise body_too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)
