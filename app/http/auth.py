"""Bearer tokens on HTTP: the ``Authorization`` header, checked against the service's
keys, with failed attempts counted, recorded and, past their limits, answered 429."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Scope

from app.http.trail import note_failure, note_read
from app.service.access import BACKEND_ROLES, Caller
from app.service.errors import AccessDeniedError
from app.service.services import Services


def authorization(scope: Scope) -> str:
    """The request's ``Authorization`` header, or ``""``."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def source_address(scope: Scope) -> str:
    """The address the request came from (as the server, or its proxy handling, saw it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def refuse_if_limited(services: Services, address: str) -> None:
    """``HTTPException`` 429 with ``Retry-After`` while ``address`` (or everyone) has
    failed to authenticate too often."""
    wait = services.auth_failures.retry_after(address)
    if wait is not None:
        raise HTTPException(
            429,
            "too many failed authentications; try again later",
            headers={"Retry-After": str(wait)},
        )


async def authenticate(services: Services, scope: Scope, roles: frozenset[str]) -> Caller:
    """The caller the request's Bearer token names; ``AccessDeniedError`` (401, 403) or
    ``HTTPException`` 429. A 401 is counted and recorded in the access log."""
    address = source_address(scope)
    refuse_if_limited(services, address)
    header = authorization(scope)
    try:
        return services.api_keys.require_header(header, roles)
    except AccessDeniedError as error:
        if error.status == 401:
            tried = header.partition(" ")[2].strip() or header.strip()
            route = f"{scope['method']} {scope['path']}"
            await note_failure(services, address, tried, route, error.reason)
        raise


async def require(services: Services, request: Request, roles: frozenset[str]) -> Caller:
    """The caller, or ``AccessDeniedError`` (rendered as 401 or 403) or a 429."""
    return await authenticate(services, request.scope, roles)


async def require_read(
    services: Services, scope: Scope, roles: frozenset[str] = BACKEND_ROLES, *, change: bool = False
) -> Caller:
    """The caller of a read (or a ``change``), once an auditor's or admin's call is in the
    access log."""
    caller = await authenticate(services, scope, roles)
    what = f"{scope['method']} {scope['path']}"
    if scope.get("query_string"):
        what += f"?{scope['query_string'].decode('latin-1')}"
    await note_read(services, caller, what, change=change)
    return caller
