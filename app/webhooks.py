"""``POST /webhooks/idenfy[/{kind}]``: signed iDenfy deliveries into the ledger."""

from __future__ import annotations

import time

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from adapters.idenfy import HEADER_KINDS, PATH_KINDS
from app.body import WEBHOOK_BODY_LIMIT, read_limited
from app.bootstrap import Services
from app.intake import Answer, Incoming, resolve_kind, take_async
from app.metrics import DELIVERIES, INGEST_SECONDS, STORE_ERRORS
from domain.reports import Kind

EVENT_TYPE_HEADER = "idenfy-event-type"
SIGNATURE_HEADER = "idenfy-signature"
HEADER_VALUE_LIMIT = 200

__all__ = ["receive", "resolve_kind"]

_encode = msgspec.json.Encoder().encode
RESULTS = {401: "unauthorized", 404: "not_found", 413: "too_large", 503: "unavailable"}


async def receive(request: Request) -> Response:
    started = time.perf_counter()
    kind = (
        request.path_params.get("kind", "")
        or request.headers.get(EVENT_TYPE_HEADER, "")
        or "identification"
    )
    result = "error"
    try:
        answer = await _receive(request)
        result = str(answer.body.get("result") or RESULTS.get(answer.status, answer.status))
        if answer.status >= 400:
            raise HTTPException(answer.status, answer.body["error"])
        return Response(
            _encode(answer.body), status_code=answer.status, media_type="application/json"
        )
    except HTTPException as error:
        result = RESULTS.get(error.status_code, str(error.status_code))
        raise
    finally:
        known = PATH_KINDS.get(kind.lower()) or HEADER_KINDS.get(kind.strip().upper())
        DELIVERIES.labels(known.value if known else "other", result).inc()
        INGEST_SECONDS.observe(time.perf_counter() - started)
        if result == "unavailable":
            STORE_ERRORS.labels("ingest").inc()


async def _receive(request: Request) -> Answer:
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
    return await take_async(services, incoming)
