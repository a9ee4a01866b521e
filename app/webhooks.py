"""``POST /webhooks/idenfy[/{kind}]``: signed iDenfy deliveries into the ledger."""

from __future__ import annotations

import hashlib

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.idenfy import HEADER_KINDS, PATH_KINDS, UnusablePayloadError, decode_report
from adapters.quarantine import QuarantinedDelivery
from app.body import WEBHOOK_BODY_LIMIT, read_limited
from app.bootstrap import Services
from app.ledger import StoreUnavailableError
from domain.reports import Delivery, Kind

EVENT_TYPE_HEADER = "idenfy-event-type"
SIGNATURE_HEADER = "idenfy-signature"
HEADER_VALUE_LIMIT = 200


def resolve_kind(path_kind: Kind | None, header: str | None) -> tuple[Kind | None, str | None]:
    """The delivery's kind and, when the header disagreed with the path, the header."""
    header_kind = HEADER_KINDS.get(header.strip().upper()) if header is not None else None
    if path_kind is not None:
        disagrees = header is not None and header_kind is not path_kind
        return path_kind, header if disagrees else None
    if header is None:
        return Kind.IDENTIFICATION, None
    return header_kind, None


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
    key = services.verifier.matching_key(body, request.headers.get(SIGNATURE_HEADER))
    if key is None:
        raise HTTPException(401, "missing or wrong Idenfy-Signature")
    received_at = services.clock()
    digest = hashlib.sha256(body).hexdigest()
    header = request.headers.get(EVENT_TYPE_HEADER)
    if header is not None:
        header = header[:HEADER_VALUE_LIMIT]
    kind, disagreeing_header = resolve_kind(path_kind, header)
    if kind is None:
        cause = f"Idenfy-Event-Type {header!r} is not an event the ledger models"
    else:
        try:
            report = decode_report(kind, body)
        except UnusablePayloadError as error:
            cause = f"unusable {kind.value} payload: {error}"
        else:
            delivery = Delivery(kind, received_at, body, digest, key, disagreeing_header)
            try:
                receipt = await run_in_threadpool(services.ledger.record, delivery, report)
            except StoreUnavailableError:
                raise HTTPException(503, "the ledger cannot commit right now") from None
            answer: dict[str, object] = {
                "result": "duplicate" if receipt.duplicate else "recorded",
                "scanRef": receipt.scan_ref,
                "sequence": receipt.sequence,
            }
            if receipt.position is not None:
                answer["position"] = receipt.position
            return JSONResponse(answer)
    kept = QuarantinedDelivery(
        received_at=received_at,
        cause=cause,
        payload=body,
        payload_sha256=digest,
        signing_key=key,
        path_kind=path_kind.value if path_kind else None,
        event_type=header,
    )
    try:
        quarantine_id = await run_in_threadpool(services.quarantine.put, kept)
    except PersistenceError as error:
        raise HTTPException(503, "the quarantine cannot commit right now") from error
    return JSONResponse({"result": "quarantined", "id": quarantine_id}, status_code=202)
