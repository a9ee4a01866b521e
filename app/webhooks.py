"""``POST /webhooks/idenfy[/{kind}]``: signed iDenfy deliveries into the ledger."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.idenfy import PATH_KINDS
from app.body import WEBHOOK_BODY_LIMIT, read_limited
from app.bootstrap import Services
from app.intake import Incoming, resolve_kind, take
from domain.reports import Kind

EVENT_TYPE_HEADER = "idenfy-event-type"
SIGNATURE_HEADER = "idenfy-signature"
HEADER_VALUE_LIMIT = 200

__all__ = ["receive", "resolve_kind"]


async def receive(request: Request) -> Response:
    services: Services = request.app.state.services
    path_kind: Kind | None = None
    if "kind" in request.path_params:
        path_kind = PATH_KINDS.get(request.path_params["kind"].lower())
        if path_kind is None:
            raise HTTPException(404, f"unknown webhook kind {request.path_params['kind']!r}")
    body = await read_limited(request, WEBHOOK_BODY_LIMIT)
    if services.verifier is None:
        raise HTTPException(503, "no webhook signing key is configured")
    header = request.headers.get(EVENT_TYPE_HEADER)
    incoming = Incoming(
        body=body,
        signature=request.headers.get(SIGNATURE_HEADER),
        path_kind=path_kind,
        event_type=None if header is None else header[:HEADER_VALUE_LIMIT],
        received_at=services.clock(),
    )
    answer = await run_in_threadpool(take, services, incoming)
    if answer.status >= 400:
        raise HTTPException(answer.status, answer.body["error"])
    return JSONResponse(answer.body, status_code=answer.status)
