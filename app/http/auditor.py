"""The auditor API: timelines with chain checks, exports, the digest and the access log.

Every route needs an auditor or admin token (a backend token gets 403), and every
read is recorded in the access log (kept apart from the verification events).
"""

from __future__ import annotations

import base64
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError, PersistenceError
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from adapters.export import FORMATS, Window, encoded
from adapters.sql import MAX_POSITION
from app.http.auth import require_read
from app.http.reads import integer_param, read_view
from app.service.access import AUDITOR_ROLES, Caller
from app.service.policy import decisions_after_each
from app.service.services import Services
from domain.audit import ChainChecker
from domain.chain import LedgerDigest
from domain.reports import is_verification
from domain.verification import Verification

HEADS_BATCH = 10_000
DECISION_KEYS = ("decision", "decisionReasons", "decisionBasis", "policyVersion")


async def _audited(services: Services, request: Request) -> Caller:
    """The caller, once the read is recorded in the access log."""
    return await require_read(services, request.scope, AUDITOR_ROLES)


def chain_of(services: Services, scan_ref: str) -> tuple[dict[str, Any], dict[int, bytes | None]]:
    """The chain check of one verification from the event store, and its payloads (None:
    erased)."""
    checker = ChainChecker()
    payloads: dict[int, bytes | None] = {}
    head = None
    try:
        events = services.ledger.history(scan_ref)
    except MapperDeserialisationError:
        # A stored event that no longer decodes is tampering too.
        return {"valid": False, "head": None}, payloads
    for event in events:
        checker.add(event, 0)
        head = event.hash
        if isinstance(event, Verification.Reported | Verification.StatusChecked):
            payloads[event.originator_version] = event.payload
    return {"valid": head is not None and not checker.problems, "head": head}, payloads


def payload_fields(raw: bytes | None) -> dict[str, Any]:
    """A timeline entry's ``payload``, exactly as received: the text when the bytes are
    UTF-8, else base64 with ``payloadEncoding: "base64"``; either way, what it stands
    for hashes to the entry's ``payloadSha256``."""
    if raw is None:
        return {"payload": None}
    try:
        return {"payload": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(raw).decode("ascii"), "payloadEncoding": "base64"}


async def verification_timeline(services: Services, request: Request) -> Response:
    await _audited(services, request)
    scan_ref = request.path_params["scan_ref"]
    if not is_verification(scan_ref):
        raise HTTPException(404, f"no verification {scan_ref!r}")
    return await subject_timeline(services, request, scan_ref, f"no verification {scan_ref!r}")


async def subject_timeline(
    services: Services, request: Request, subject: str, missing: str
) -> Response:
    """The timeline of a verification or another subject, with its chain check, for a
    caller already checked and noted as an auditor."""
    view = services.views.timeline
    entries = await read_view(request, view, view.timeline, subject)
    if entries is None:
        raise HTTPException(404, missing)
    try:
        chain, payloads = await run_in_threadpool(chain_of, services, subject)
    except PersistenceError:
        raise HTTPException(503, "the ledger cannot be read right now") from None
    if request.query_params.get("payload") in ("1", "true"):
        for entry in entries:
            sequence = entry["sequence"]
            entry.update(payload_fields(payloads.get(sequence)))
            if sequence in payloads and payloads[sequence] is None:
                entry["payloadErased"] = True
    found: dict[str, Any] = {"scanRef": subject, "entries": entries, "chain": chain}
    if is_verification(subject):  # the decisions of the policy in force, now and after each
        await _decide(services, request, subject, found)
    return JSONResponse(found)


async def _decide(
    services: Services, request: Request, subject: str, found: dict[str, Any]
) -> None:
    status, timeline = services.views.status, services.views.timeline
    document = await read_view(request, status, status.status, subject)
    if document is not None:
        found.update({key: document[key] for key in DECISION_KEYS})
    facts = (await read_view(request, timeline, timeline.facts, [subject])).get(subject, [])
    after = decisions_after_each(subject, facts, status.serving)
    for entry in found["entries"]:
        entry.update(after.get(entry["sequence"], {}))


async def audit_events(services: Services, request: Request) -> Response:
    await _audited(services, request)
    fmt = request.query_params.get("format", "ndjson")
    if fmt not in FORMATS:
        raise HTTPException(422, "format must be ndjson or csv")
    try:
        window = Window.parse(request.query_params.get("since"), request.query_params.get("until"))
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    chunks = encoded(services.ledger.recorder, services.ledger.mapper, window, fmt)
    media = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=media)


def ledger_digest(services: Services) -> dict[str, Any]:
    """The digest of every chain head, from the timeline view (as far as it has seen)."""
    view = services.views.timeline
    position = view.max_tracking_id(services.ledger.name) or 0
    digest = LedgerDigest()
    after = 0
    while True:
        heads = view.heads(after, HEADS_BATCH)
        for first_position, scan_ref, sequence, head in heads:
            digest.add(scan_ref, sequence, head)
            after = first_position
        if len(heads) < HEADS_BATCH:
            break
    return {
        "events": digest.events,
        "digest": digest.hexdigest(),
        "at": services.clock().isoformat().replace("+00:00", "Z"),
        "position": position,
    }


async def audit_digest(services: Services, request: Request) -> Response:
    await _audited(services, request)
    view = services.views.timeline
    return JSONResponse(await read_view(request, view, ledger_digest, services))


async def audit_access(services: Services, request: Request) -> Response:
    await _audited(services, request)
    limit = integer_param(request, "limit", 100, 1, 1000)
    before = integer_param(request, "before", None, 1, MAX_POSITION)
    assert limit is not None
    entries = await run_in_threadpool(services.access_log.entries, limit, before)
    return JSONResponse({"entries": entries})
