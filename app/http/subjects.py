"""The read API of AML monitorings and KYB companies (documents, lists and timelines), of
deliveries of unmodelled types naming no verification, and the completeness statement.

They are subjects of the ledger beside verifications (``aml:{monitoringId}``,
``company:{id}``): backend reads give their documents, and an auditor reads their
timelines as a verification's, with the chain check and, on request, the payloads.
"""

from __future__ import annotations

import re

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from adapters.idenfy import SUBJECT_ID_PATTERN, header_name
from app.http.auditor import subject_timeline
from app.http.auth import require_read
from app.http.reads import DEFAULT_LIMIT, MAX_LIMIT, integer_param, read_view
from app.service.access import AUDITOR_ROLES
from app.service.completeness import Window, markdown, statement
from app.service.policy import history
from app.service.services import Services
from domain.reports import AML_SUBJECT, COMPANY_SUBJECT, OTHER_SUBJECT, UNIDENTIFIED_COMPANY
from projections.policy import DEFAULT_POLICY

_ID = re.compile(SUBJECT_ID_PATTERN)
NAMES = {AML_SUBJECT: "AML monitoring", COMPANY_SUBJECT: "company"}


def _subject(request: Request, prefix: str, name: str) -> str:
    """The subject a path names, or 404 for an id no delivery could have given."""
    found: str = request.path_params[name]
    if not (_ID.match(found) or (prefix == COMPANY_SUBJECT and found == UNIDENTIFIED_COMPANY)):
        raise HTTPException(404, f"no {NAMES[prefix]} {found!r}")
    return prefix + found


async def _document(services: Services, request: Request, prefix: str, name: str) -> Response:
    await require_read(services, request.scope)
    subject = _subject(request, prefix, name)
    view = services.views.status
    document = await read_view(request, view, view.subject, subject)
    if document is None:
        raise HTTPException(404, f"no {NAMES[prefix]} {request.path_params[name]!r}")
    return JSONResponse(document)


async def _list(
    services: Services, request: Request, prefix: str, status_param: str, key: str
) -> Response:
    await require_read(services, request.scope)
    status = request.query_params.get(status_param) or None
    limit = integer_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    assert limit is not None
    after = request.query_params.get("after") or None
    view = services.views.status
    items = await read_view(request, view, view.subjects, prefix, status, limit + 1, after, none=[])
    more = len(items) > limit
    items = items[:limit]
    return JSONResponse({"items": items, "next": items[-1][key] if more and items else None})


async def monitoring(services: Services, request: Request) -> Response:
    """``GET /aml/monitorings/{monitoringId}``."""
    return await _document(services, request, AML_SUBJECT, "monitoringId")


async def monitorings(services: Services, request: Request) -> Response:
    """``GET /aml/monitorings?alertStatus=&limit=&after=``: by id; ``next`` is the id to
    pass as ``after`` for the next page."""
    return await _list(services, request, AML_SUBJECT, "alertStatus", "monitoringId")


async def _timeline(services: Services, request: Request, prefix: str, name: str) -> Response:
    """A monitoring's or company's timeline, for an auditor."""
    await require_read(services, request.scope, AUDITOR_ROLES)
    subject = _subject(request, prefix, name)
    missing = f"no {NAMES[prefix]} {request.path_params[name]!r}"
    return await subject_timeline(services, request, subject, missing)


async def monitoring_timeline(services: Services, request: Request) -> Response:
    """``GET /aml/monitorings/{monitoringId}/timeline`` (auditor)."""
    return await _timeline(services, request, AML_SUBJECT, "monitoringId")


async def company(services: Services, request: Request) -> Response:
    """``GET /companies/{id}``."""
    return await _document(services, request, COMPANY_SUBJECT, "id")


async def companies(services: Services, request: Request) -> Response:
    """``GET /companies?status=&limit=&after=``: by id, like monitorings."""
    return await _list(services, request, COMPANY_SUBJECT, "status", "companyId")


async def company_timeline(services: Services, request: Request) -> Response:
    """``GET /companies/{id}/timeline`` (auditor)."""
    return await _timeline(services, request, COMPANY_SUBJECT, "id")


async def unmodelled_timeline(services: Services, request: Request) -> Response:
    """``GET /audit/unmodelled/{eventType}/timeline`` (auditor): the deliveries of a type the
    ledger does not model that named no verification (``other:{TYPE}``)."""
    await require_read(services, request.scope, AUDITOR_ROLES)
    event_type = header_name(request.path_params["eventType"])
    missing = f"no deliveries of type {event_type!r} naming no verification"
    return await subject_timeline(services, request, OTHER_SUBJECT + event_type, missing)


async def completeness(services: Services, request: Request) -> Response:
    """``GET /audit/completeness?since=&until=[&format=md]`` (auditor): the completeness
    statement of verifications registered in ``[since, until)``."""
    await require_read(services, request.scope, AUDITOR_ROLES)
    try:
        window = Window.parse(request.query_params.get("since"), request.query_params.get("until"))
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "md"):
        raise HTTPException(422, "format must be json or md")
    try:
        found = await run_in_threadpool(statement, services, window)
    except PersistenceError:
        raise HTTPException(503, "the views cannot be read right now") from None
    if fmt == "md":
        return PlainTextResponse(markdown(found), media_type="text/markdown; charset=utf-8")
    return JSONResponse(found)


async def policy_in_force(services: Services, request: Request) -> Response:
    """``GET /policy``: the business policy in force, its version and its text."""
    await require_read(services, request.scope)
    found = await run_in_threadpool(services.views.status.serving.policy)
    applied = await run_in_threadpool(history, services.ledger)
    return JSONResponse(
        {
            "name": found.name,
            "version": found.version,
            "sha256": found.sha256,
            "builtIn": found.text == DEFAULT_POLICY,
            "rules": [{"name": r.name, "decision": r.decision} for r in found.rules],
            "text": found.text.decode(),
            "history": applied,
        }
    )
