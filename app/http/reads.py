"""The read API: status documents, the list query, client totals and timelines.

Reads come from the projections' views. A caller that has just written can pass
``minPosition`` (the ``position`` of its webhook or registration answer) to wait,
for a bounded time, until the views have seen at least that far.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from typing import Any

import msgspec
from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from adapters.sql import MAX_POSITION
from adapters.status_reader import ReadFailedError, StatusReader
from adapters.views import SqlVerificationView
from app.http.auth import require_read
from app.http.body import route_path
from app.http.errors import send_failure, send_json
from app.service.ledger import Ledger
from app.service.services import Services
from projections.current_status import StatusFilter
from projections.policy import DECISIONS

log = logging.getLogger("ledger.http")
_encode = msgspec.json.Encoder().encode

READ_WAIT_SECONDS = 5.0
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _flag(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise HTTPException(422, f"{name} must be true or false")


def integer_param(
    request: Request, name: str, default: int | None, low: int, high: int
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise HTTPException(422, f"{name} must be a whole number from {low} to {high}")
    return value


def whole_number(raw: str, low: int, high: int) -> int | None:
    """``raw`` as a number from ``low`` to ``high`` when it is only ASCII digits, else None.

    ``str.isdigit`` and ``int`` take other scripts' digits (``²``, ``٣``) too, which no
    caller of this API means; and a number past ``high`` is never converted at all.
    """
    if not raw.isascii() or not raw.isdigit() or len(raw.lstrip("0")) > len(str(high)):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position an ``after`` cursor holds; 422 for anything this service did not give
    out (not base64, not ``p`` and digits, or a position past ``MAX_POSITION``)."""
    position: int | None = None
    if cursor.isascii() and len(cursor) <= 64:
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        if text.startswith("p"):
            position = whole_number(text[1:], 0, MAX_POSITION)
    if position is None:
        raise HTTPException(422, "after is not a cursor this service gave out")
    return position


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if dataclasses.is_dataclass(value):
        return any(_has_nul(field) for field in vars(value).values())
    return False


async def read_view(
    request: Request, view: SqlVerificationView, query: Any, *args: Any, none: Any = None
) -> Any:
    """Run a view query in the threadpool, first waiting for ``minPosition`` if asked.

    Nothing recorded can contain NUL, so a name or filter (``args``) with NUL finds
    ``none``. Other query parameters are either validated (``minPosition``) or unused.
    """
    if any(_has_nul(value) for value in args):
        return none
    wanted = integer_param(request, "minPosition", None, 0, MAX_POSITION)

    def call() -> Any:
        if wanted:
            view.wait(Ledger.name, wanted, timeout=READ_WAIT_SECONDS)
        return query(*args)

    try:
        return await run_in_threadpool(call)
    except TimeoutError:
        raise HTTPException(
            503, f"the views have not reached position {wanted} yet; try again"
        ) from None
    except PersistenceError:
        raise HTTPException(503, "the views cannot be read right now") from None


async def verification_status(services: Services, request: Request) -> Response:
    """``GET /verifications/{scanRef}`` with a query (``minPosition``); without one,
    ``StatusRead`` answers before the router does."""
    await require_read(services, request.scope)
    scan_ref = request.path_params["scan_ref"]
    document = await read_view(
        request, services.views.status, services.views.status.status, scan_ref
    )
    if document is None:
        raise HTTPException(404, f"no verification {scan_ref!r}")
    return JSONResponse(document)


STATUS_PREFIX = "/verifications/"


def is_plain_status_read(scope: Scope) -> bool:
    """Whether this is ``GET /verifications/{scanRef}`` with no query string."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
        return False
    path = route_path(scope)
    scan_ref = path[len(STATUS_PREFIX) :]
    return path.startswith(STATUS_PREFIX) and scan_ref != "" and "/" not in scan_ref


class StatusRead:
    """The busiest read as a plain ASGI app, taken before the middleware stack and router
    (ADR 13): the status document straight from the view (``adapters.status_reader``),
    or the threaded read when that cannot answer."""

    def __init__(self, services: Services, reader: StatusReader):
        self.services = services
        self.reader = reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self.services
        scan_ref = route_path(scope)[len(STATUS_PREFIX) :]
        try:
            await require_read(services, scope)
            content = await self._document(self.reader, services, scan_ref)
        except Exception as error:
            await send_failure(send, error, "GET", STATUS_PREFIX)
            return
        await send_json(send, 200, content)

    async def _document(self, reader: StatusReader, services: Services, scan_ref: str) -> bytes:
        found: bytes | None = None
        if "\x00" not in scan_ref:  # nothing recorded contains NUL
            try:
                found = await reader.document(scan_ref)
            except ReadFailedError:
                try:
                    document = await run_in_threadpool(services.views.status.status, scan_ref)
                except PersistenceError:
                    raise HTTPException(503, "the views cannot be read right now") from None
                found = None if document is None else _encode(document)
        if found is None:
            raise HTTPException(404, f"no verification {scan_ref!r}")
        return found


def _decision(request: Request) -> str | None:
    decision = request.query_params.get("decision") or None
    if decision is not None and decision not in DECISIONS:
        raise HTTPException(422, f"decision must be one of {', '.join(DECISIONS)}")
    return decision


async def verification_list(services: Services, request: Request) -> Response:
    await require_read(services, request.scope)
    status = request.query_params.get("status") or None
    client_id = request.query_params.get("clientId") or None
    overdue = _flag(request, "overdue")
    if overdue is False:
        raise HTTPException(422, "overdue filters only as overdue=true")
    where = StatusFilter(
        status=status,
        final=_flag(request, "final"),
        client_id=client_id,
        suspected=_flag(request, "suspected"),
        overdue=overdue,
        decision=_decision(request),
    )
    limit = integer_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    assert limit is not None
    after = request.query_params.get("after")
    before = decode_cursor(after) if after else None
    view = services.views.status
    items = await read_view(request, view, view.statuses, where, limit + 1, before, none=[])
    more = len(items) > limit
    items = items[:limit]
    cursor = encode_cursor(items[-1]["lastPosition"]) if more and items else None
    return JSONResponse({"items": items, "next": cursor})


async def client_totals(services: Services, request: Request) -> Response:
    await require_read(services, request.scope)
    client_id = request.path_params["client_id"]
    view = services.views.reattempts
    totals = await read_view(request, view, view.client, client_id)
    if totals is None:
        raise HTTPException(404, f"no client {client_id!r}")
    return JSONResponse(totals)
