"""The verifiable log on the auditor API (ADR 28): the latest checkpoint, inclusion and
consistency proofs, and evidence bundles. Auditor or admin tokens only; every read is
recorded in the access log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from adapters.merkle_tables import TreeMovedError, UnreadableHashError
from adapters.sql import MAX_POSITION
from app.http.auth import require_read
from app.http.reads import integer_param
from app.service.access import AUDITOR_ROLES
from app.service.evidence import make_bundle
from app.service.merkle_log import NoSignerError, NotInTreeError, TreeLog
from app.service.services import Services
from domain.reports import SUBJECT_PREFIXES
from domain.verification import Verification

UNAVAILABLE = (PersistenceError, TreeMovedError, UnreadableHashError)


def _tree(services: Services) -> TreeLog:
    if services.tree is None:
        raise HTTPException(404, "this service keeps no Merkle tree")
    return services.tree


def latest_checkpoint(tree: TreeLog) -> str | None:
    """The newest checkpoint kept; a first one is signed now when there is none yet."""
    note = tree.latest()
    if note is None and tree.signer is not None:
        note = tree.checkpoint()
    return note


async def _run(function: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(function, *args)
    except NotInTreeError as error:
        raise HTTPException(404, str(error)) from None
    except NoSignerError as error:
        raise HTTPException(404, str(error)) from None
    except UNAVAILABLE:
        raise HTTPException(503, "the ledger's tree cannot be read right now") from None


async def checkpoint(services: Services, request: Request) -> Response:
    await require_read(services, request.scope, AUDITOR_ROLES)
    note = await _run(latest_checkpoint, _tree(services))
    if note is None:
        raise HTTPException(404, "no checkpoint yet: LEDGER_CHECKPOINT_KEY is not set")
    return PlainTextResponse(note)


def _subject(request: Request) -> str:
    scan_ref = request.query_params.get("scanRef")
    subject = request.query_params.get("subject")
    if (scan_ref is None) == (subject is None):
        raise HTTPException(422, "give scanRef or subject, not both")
    if scan_ref is not None:
        return str(Verification.create_id(scan_ref))
    if str(subject).startswith(SUBJECT_PREFIXES):  # aml:{id}, company:{id}, other:{TYPE}
        return str(Verification.create_id(str(subject)))
    try:
        return str(UUID(str(subject)))
    except ValueError:
        raise HTTPException(
            422, "subject must be aml:{id}, company:{id}, other:{TYPE} or an aggregate id"
        ) from None


async def inclusion(services: Services, request: Request) -> Response:
    await require_read(services, request.scope, AUDITOR_ROLES)
    subject = _subject(request)
    sequence = integer_param(request, "sequence", None, 1, MAX_POSITION)
    if sequence is None:
        raise HTTPException(422, "sequence is required")
    size = integer_param(request, "treeSize", None, 1, MAX_POSITION)
    proof = await _run(_tree(services).inclusion, subject, sequence, size)
    return JSONResponse(proof.to_json())


async def consistency(services: Services, request: Request) -> Response:
    await require_read(services, request.scope, AUDITOR_ROLES)
    old = integer_param(request, "from", None, 0, MAX_POSITION)
    new = integer_param(request, "to", None, 0, MAX_POSITION)
    if old is None or new is None or old > new:
        raise HTTPException(422, "from and to are tree sizes, from at most to")
    hashes = await _run(_tree(services).consistency, old, new)
    return JSONResponse({"from": old, "to": new, "hashes": [value.hex() for value in hashes]})


async def bundle(services: Services, request: Request) -> Response:
    await require_read(services, request.scope, AUDITOR_ROLES)
    return await bundle_response(services, request.path_params["scan_ref"])


async def bundle_response(services: Services, scan_ref: str) -> Response:
    """The evidence bundle of ``scan_ref`` as a download (the API's and the UI's)."""
    made = await _run(make_bundle, _tree(services), scan_ref)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in scan_ref)[:80]
    return Response(
        made.data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="bundle-{name}.zip"'},
    )


ROUTES = (
    ("/audit/checkpoint", checkpoint),
    ("/audit/proofs/inclusion", inclusion),
    ("/audit/proofs/consistency", consistency),
    ("/audit/bundles/{scan_ref}", bundle),
)


def openapi_paths() -> dict[str, Any]:
    """These routes in the API document."""
    errors = {code: {"description": "An error, with a human-readable `error`"}
              for code in ("401", "403", "404", "422", "429", "503")}  # fmt: skip
    number = {"type": "integer", "minimum": 0}

    def get(summary: str, media: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        schema = {"type": "string"} if media != "application/json" else {"type": "object"}
        return {"get": {"summary": summary, "security": [{"bearer": []}],
                        "parameters": parameters, "x-roles": ["auditor", "admin"],
                        "responses": {"200": {"description": summary,
                                              "content": {media: {"schema": schema}}},
                                      **errors}}}  # fmt: skip

    def query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": required, "schema": schema}

    return {
        "/audit/checkpoint": get("The latest signed checkpoint (C2SP)", "text/plain", []),
        "/audit/proofs/inclusion": get(
            "An inclusion proof of one event (RFC 9162)",
            "application/json",
            [
                query("scanRef", {"type": "string"}),
                query("subject", {"type": "string"}),
                query("sequence", {"type": "integer", "minimum": 1}, True),
                query("treeSize", {"type": "integer", "minimum": 1}),
            ],
        ),
        "/audit/proofs/consistency": get(
            "A consistency proof between two tree sizes (RFC 9162)",
            "application/json",
            [query("from", number, True), query("to", number, True)],
        ),
        "/audit/bundles/{scanRef}": get(
            "The evidence bundle of one verification (zip)",
            "application/zip",
            [{"name": "scanRef", "in": "path", "required": True, "schema": {"type": "string"}}],
        ),
    }
