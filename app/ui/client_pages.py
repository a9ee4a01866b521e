"""The auditor UI's page of a client's personal data lifecycle (ADR 31): its retention
clock, its legal holds in force and its erasure, as ``GET /clients/{clientId}/retention``
gives them. Like every page, an auditor read recorded in the access log first."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.http.clients import read_retention
from app.ui.auth import audited
from app.ui.render import UiState, render

LISTED = 200
"""The most verifications of the client the page names."""


async def client(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    client_id: str = request.path_params["client_id"]
    found = await read_retention(services, request, client_id)
    if found is None:
        raise HTTPException(404, f"Nothing is recorded about client {client_id}.")
    context = {
        "clientId": client_id,
        "retention": found.document(),
        "scanRefs": found.scan_refs[:LISTED],
        "retentionDays": services.settings.retention_days,
    }
    return render(state, request, "client.html", context, caller=caller)
