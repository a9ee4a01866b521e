"""Errors on the HTTP edge, rendered one way: ``{"error": reason}`` with the status, and
``Retry-After`` on a 503, whether a Starlette route or a fast path (ADR 13) answers."""

from __future__ import annotations

import logging

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from app.service.errors import AccessDeniedError

log = logging.getLogger("ledger.http")

RETRY_AFTER_SECONDS = "5"
"""What a 503 asks the caller to wait before trying again, in seconds."""
INTERNAL = (500, "internal error")

_encode = msgspec.json.Encoder().encode


def failure(error: Exception, method: str, path: str) -> tuple[int, str]:
    """The status and reason an error is answered with; unexpected ones are logged (by
    type only: their text may hold what a caller sent) and answered 500."""
    if isinstance(error, HTTPException):
        return error.status_code, str(error.detail)
    if isinstance(error, AccessDeniedError):
        return error.status, error.reason
    log.error("unexpected error on %s %s: %s", method, path, type(error).__name__)
    return INTERNAL


def headers_for(
    status: int, length: int, retry_after: str | None = None
) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]
    if status == 503 and retry_after is None:
        retry_after = RETRY_AFTER_SECONDS
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    return headers


async def send_json(
    send: Send, status: int, content: bytes, retry_after: str | None = None
) -> None:
    """A JSON response, sent the plain-ASGI way; a 503 (or 429) asks the caller to retry
    later."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers_for(status, len(content), retry_after),
        }
    )
    await send({"type": "http.response.body", "body": content})


async def send_failure(send: Send, error: Exception, method: str, path: str) -> None:
    """``error`` answered as ``error_response`` would, the plain-ASGI way."""
    status, reason = failure(error, method, path)
    headers = (error.headers or {}) if isinstance(error, HTTPException) else {}
    await send_json(send, status, _encode({"error": reason}), headers.get("Retry-After"))


async def error_response(request: Request, exc: Exception) -> Response:
    """The Starlette exception handler for every error of the API's routes."""
    status, reason = failure(exc, request.method, request.url.path)
    content = _encode({"error": reason})
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 503:
        headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    return Response(content, status_code=status, headers=headers, media_type="application/json")
