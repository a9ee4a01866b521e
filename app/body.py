"""Reading request bodies without trusting their size."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Scope

WEBHOOK_BODY_LIMIT = 1024 * 1024
# What a 503 asks the caller to wait before trying again, in seconds.
RETRY_AFTER_SECONDS = "5"


def route_path(scope: Scope) -> str:
    """The request's path below the application's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as more than ``limit`` bytes are announced or sent.

    Bytes are counted while they arrive, so an endless chunked body is cut off at the
    limit instead of being buffered.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPException(400, "the client went away before the body was complete") from None
    return b"".join(chunks)
