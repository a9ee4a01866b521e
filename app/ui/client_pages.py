"""The auditor UI's page of a client's personal data lifecycle (ADR 31): its retention
clock, its legal holds in force and its erasure, as ``GET /clients/{clientId}/retention``
gives them. Like every page, an auditor read recorded in the access log first."""

from __future__ import annotations

from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.http.reads import read_view
from app.service.erasure import UnknownClientError, retention_of
from app.ui.auth import audited
from app.ui.render import UiState, render

LISTED = 200
"""The most verifications of the client the page names."""


async def client(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    client_id: str = request.path_params["client_id"]
    view = services.views.status
    try:  # nothing recorded contains NUL: read_view finds None for such a name
        found = await read_view(request, view, partial(retention_of, services), client_id)
    except UnknownClientError:
        found = None
    if found is None:
        raise HTTPException(404, f"Nothing is recorded about client {client_id}.")
    context = {
        "clientId": client_id,
        "retention": found.document(),
        "scanRefs": found.scan_refs[:LISTED],
        "retentionDays": services.settings.retention_days,
    }
    return render(state, request, "client.html", context, caller=caller)
