"""Reading request bodies without trusting their size."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope

WEBHOOK_BODY_LIMIT = 1024 * 1024


def route_path(scope: Scope) -> str:
    """The request's path below the application's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def read_limited(request: Request, limit: int) -> bytes:
    """The request's whole body, or 413 (see ``receive_limited``)."""
    return await receive_limited(request.receive, request.headers.get("content-length", ""), limit)


async def receive_limited(receive: Receive, declared: str, limit: int) -> bytes:
    """The whole body, or 413 as soon as more than ``limit`` bytes are announced (in
    ``declared``, the Content-Length) or sent; 400 if the client goes away first.

    Bytes are counted while they arrive, so an endless chunked body is cut off at the
    limit instead of being buffered.
    """
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPException(400, "the client went away before the body was complete")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


T = TypeVar("T")


async def read_json(request: Request, limit: int, decoder: msgspec.json.Decoder[T], what: str) -> T:
    """The request's JSON body decoded, or 422 saying why (``invalid {what}: ...``); 413
    for a body over ``limit`` bytes."""
    body = await read_limited(request, limit)
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise HTTPException(422, f"invalid {what}: {error}") from None
    except RecursionError:
        raise HTTPException(422, f"invalid {what}: JSON nested too deeply") from None
