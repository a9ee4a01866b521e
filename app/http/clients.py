"""A client's personal data lifecycle on the API (ADR 31): its retention clock and its
legal holds.

Ending a relationship and placing or lifting a hold take an admin token; an auditor may
read the retention document too. Every call is recorded in the access log before
anything is read or changed, and a hold names who placed it as the access log names
the caller (``role:fingerprint``, never the token).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.http.auth import require_read
from app.http.body import read_json
from app.http.documents import REASON_LIMIT, HoldRequest
from app.http.openapi_parts import ERROR, ERRORS, MIN_POSITION, json_body, ref
from app.http.reads import read_view
from app.service.access import AUDITOR_ROLES, Caller
from app.service.erasure import Retention, UnknownClientError, retention_of
from app.service.services import Services

ADMIN_ROLES = frozenset({"admin"})
HOLD_BODY_LIMIT = 16 * 1024
HOLD_ID = re.compile(r"\A[0-9a-f]{32}\Z")
"""What a hold's id looks like (``RetentionStore.place_hold``): anything else is none."""

_decoder = msgspec.json.Decoder(HoldRequest)


async def _admin(services: Services, request: Request) -> Caller:
    """The admin calling, once the change is in the access log."""
    return await require_read(services, request.scope, ADMIN_ROLES, change=True)


def _unknown(client_id: str) -> HTTPException:
    return HTTPException(404, f"nothing is recorded about client {client_id!r}")


async def read_retention(services: Services, request: Request, client_id: str) -> Retention | None:
    """The client's retention (``minPosition`` waits for the views first), or None when
    nothing is recorded about it (the auditor UI's client page reads it too)."""
    view = services.views.status
    try:  # nothing recorded contains NUL: read_view finds None for such a name
        found: Retention | None = await read_view(
            request, view, partial(retention_of, services), client_id
        )
    except UnknownClientError:
        return None
    return found


async def _retention(services: Services, request: Request) -> dict[str, Any]:
    """The retention document of the client the path names, or 404."""
    client_id: str = request.path_params["clientId"]
    found = await read_retention(services, request, client_id)
    if found is None:
        raise _unknown(client_id)
    document: dict[str, Any] = found.document()
    return document


async def _change(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in the threadpool; 503 when the store cannot take it."""
    try:
        return await run_in_threadpool(function, *args)
    except PersistenceError:
        raise HTTPException(503, "the ledger cannot commit right now") from None


async def _reason(request: Request) -> str:
    """The hold's reason from the body, or 422 (413 for a body over the limit)."""
    given = await read_json(request, HOLD_BODY_LIMIT, _decoder, "hold")
    reason = given.reason.strip()
    if not reason:
        raise HTTPException(422, "invalid hold: the reason must say why the data is held")
    if "\x00" in reason:
        raise HTTPException(422, "invalid hold: the reason may not contain NUL")
    return reason


async def retention(services: Services, request: Request) -> Response:
    """``GET /clients/{clientId}/retention`` (auditor, admin)."""
    await require_read(services, request.scope, AUDITOR_ROLES)
    return JSONResponse(await _retention(services, request))


async def end(services: Services, request: Request) -> Response:
    """``POST /clients/{clientId}/end`` (admin): the relationship ends now, unless it was
    ended earlier by hand; the retention document as it now stands."""
    await _admin(services, request)
    await _retention(services, request)  # nothing is recorded about an unknown client
    client_id = request.path_params["clientId"]
    await _change(services.retention.end, client_id, services.clock())
    return JSONResponse(await _retention(services, request))


async def place_hold(services: Services, request: Request) -> Response:
    """``POST /clients/{clientId}/holds`` ``{"reason"}`` (admin): 201 with the hold."""
    caller = await _admin(services, request)
    reason = await _reason(request)
    await _retention(services, request)
    client_id = request.path_params["clientId"]
    hold = await _change(
        services.retention.place_hold, client_id, reason, caller.key_id, services.clock()
    )
    return JSONResponse(hold.document(), status_code=201)


async def lift_hold(services: Services, request: Request) -> Response:
    """``DELETE /clients/{clientId}/holds/{id}`` (admin): the retention document once the
    hold is lifted, or 404 when the client has no such hold in force."""
    caller = await _admin(services, request)
    await _retention(services, request)
    client_id, hold_id = request.path_params["clientId"], request.path_params["id"]
    lifted = HOLD_ID.match(hold_id) is not None and await _change(
        services.retention.lift_hold, client_id, hold_id, caller.key_id, services.clock()
    )
    if not lifted:
        raise HTTPException(404, f"client {client_id!r} has no hold {hold_id!r} in force")
    return JSONResponse(await _retention(services, request))


ROUTES = (
    ("/clients/{clientId}/retention", "GET", retention),
    ("/clients/{clientId}/end", "POST", end),
    ("/clients/{clientId}/holds", "POST", place_hold),
    ("/clients/{clientId}/holds/{id}", "DELETE", lift_hold),
)


def _operation(
    summary: str, parameters: list[dict[str, Any]], answers: dict[str, Any], admin: bool = True
) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": parameters,
        "responses": {**answers, **ERRORS},
        "x-roles": ["admin"] if admin else ["auditor", "admin"],
    }


def openapi_paths() -> dict[str, Any]:
    """These routes in the API document."""
    client = {"name": "clientId", "in": "path", "required": True, "schema": {"type": "string"}}
    hold = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    document = json_body(ref("Retention"), "The client's retention document")
    body = {"required": True, "content": {"application/json": {"schema": ref("HoldRequest")}}}
    placed = json_body(ref("Hold"), f"The hold placed (a reason of 1 to {REASON_LIMIT} chars)")
    return {
        "/clients/{clientId}/retention": {
            "get": _operation(
                "A client's retention clock, legal holds and erasure",
                [client, MIN_POSITION],
                {"200": document},
                admin=False,
            )
        },
        "/clients/{clientId}/end": {
            "post": _operation(
                "End the relationship with a client now (unless ended earlier)",
                [client],
                {"200": document},
            )
        },
        "/clients/{clientId}/holds": {
            "post": _operation(
                "Place a legal hold: erasure is refused while it is in force",
                [client],
                {"201": placed, "413": ERROR},
            )
            | {"requestBody": body}
        },
        "/clients/{clientId}/holds/{id}": {
            "delete": _operation("Lift a legal hold", [client, hold], {"200": document})
        },
    }
