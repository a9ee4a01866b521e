"""The auditor UI's read pages: search, a verification, a payload, recent ones, a report.

Each page is an auditor read like the API's, recorded in the access log first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from adapters.sql import MAX_POSITION
from app.http import transparency
from app.http.auditor import chain_of
from app.http.reads import integer_param, read_view
from app.service.access import Caller
from app.service.services import Services
from app.ui.auth import HOME, audited
from app.ui.model import (
    erasure_of,
    is_scan_ref,
    payload_digest_matches,
    payload_text,
    timeline_items,
)
from app.ui.render import PREFIX, UiState, render
from projections.current_status import StatusFilter

RECENT_LIMIT = 50
CLIENT_LIMIT = 200


async def home(state: UiState, request: Request) -> Response:
    return RedirectResponse(HOME, 303)


async def chain_check(
    services: Services, scan_ref: str
) -> tuple[dict[str, Any], dict[int, bytes | None]]:
    """The chain check and payloads (None: erased) of a verification or another subject."""
    try:
        return await run_in_threadpool(chain_of, services, scan_ref)
    except PersistenceError:
        raise HTTPException(503, "the ledger cannot be read right now") from None


async def _verification(request: Request, services: Services, scan_ref: str) -> dict[str, Any]:
    """The status document, timeline items and chain check of one verification, or 404."""
    views = services.views
    document = await read_view(request, views.status, views.status.status, scan_ref)
    entries = await read_view(request, views.timeline, views.timeline.timeline, scan_ref)
    if document is None and entries is None:
        raise HTTPException(404, f"There is no verification with scanRef {scan_ref}.")
    chain, payloads = await chain_check(services, scan_ref)
    return {
        "scanRef": scan_ref,
        "document": document,
        "items": timeline_items(entries or [], payloads),
        "chain": chain,
    }


async def search(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    query = request.query_params.get("q", "").strip()
    context: dict[str, Any] = {"query": query, "items": [], "totals": None}
    if query:
        view = services.views.status
        if is_scan_ref(query) and await read_view(request, view, view.status, query) is not None:
            return RedirectResponse(f"{PREFIX}/verifications/{query}", 303)
        where = StatusFilter(client_id=query)
        context["items"] = await read_view(request, view, view.statuses, where, CLIENT_LIMIT, None)
        totals = services.views.reattempts
        context["totals"] = await read_view(request, totals, totals.client, query)
    return render(state, request, "search.html", context, caller=caller)


async def verification(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    record = await _verification(request, services, request.path_params["scan_ref"])
    record["checkpoint"] = await _latest_checkpoint(services)
    record["keepsTree"] = services.tree is not None
    return render(state, request, "verification.html", record, caller=caller)


async def _latest_checkpoint(services: Services) -> str | None:
    """The newest checkpoint kept, if the service keeps a tree (signing none on a read)."""
    if services.tree is None:
        return None
    try:
        return await run_in_threadpool(services.tree.latest)
    except PersistenceError:
        return None


async def bundle(state: UiState, request: Request) -> Response:
    """The verification's evidence bundle, as ``GET /audit/bundles/{scanRef}`` gives it."""
    services, _ = await audited(state, request)
    return await transparency.bundle_response(services, request.path_params["scan_ref"])


async def payload(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    scan_ref = request.path_params["scan_ref"]
    sequence: int = request.path_params["sequence"]
    view = services.views.timeline
    entries = await read_view(request, view, view.timeline, scan_ref) or []
    entry = next((e for e in entries if e["sequence"] == sequence), None)
    _, payloads = await chain_check(services, scan_ref)
    if entry is None or sequence not in payloads:
        raise HTTPException(404, f"Verification {scan_ref} has no payload at sequence {sequence}.")
    context = {
        "back": f"{PREFIX}/verifications/{quote(scan_ref, safe='')}",
        "backLabel": "Verification",
        "scanRef": scan_ref,
        "entry": entry,
    }
    return payload_page(state, request, caller, context, payloads[sequence], entries)


def payload_page(
    state: UiState,
    request: Request,
    caller: Caller,
    context: dict[str, Any],
    raw: bytes | None,
    entries: Sequence[Mapping[str, Any]],
) -> Response:
    """The payload of ``context["entry"]`` as received; or, when it was erased (``raw``
    None), when, by whom and why, from the erasure among ``entries`` (410 Gone)."""
    entry = context["entry"]
    if raw is None:
        erasure = erasure_of(entries, entry["sequence"])
        context = context | {"erasure": erasure}
        return render(
            state, request, "payload_erased.html", context, caller=caller, status_code=410
        )
    text, encoding = payload_text(raw)
    context = context | {
        "text": text,
        "encoding": encoding,
        "size": len(raw),
        "digestMatches": payload_digest_matches(raw, entry),
    }
    return render(state, request, "payload.html", context, caller=caller)


async def recent(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    before = integer_param(request, "before", None, 1, MAX_POSITION)
    view = services.views.status
    where = StatusFilter()
    items = await read_view(request, view, view.statuses, where, RECENT_LIMIT + 1, before)
    older = items[RECENT_LIMIT - 1]["lastPosition"] if len(items) > RECENT_LIMIT else None
    context = {"items": items[:RECENT_LIMIT], "older": older, "paged": before is not None}
    return render(state, request, "recent.html", context, caller=caller)


async def report(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    record = await _verification(request, services, request.path_params["scan_ref"])
    generated = services.clock().isoformat(timespec="seconds").replace("+00:00", "Z")
    context = record | {"generatedAt": generated}
    return render(state, request, "report.html", context, caller=caller)
