"""Signed iDenfy webhooks posted to the service over HTTP, and its bearer tokens."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx

from app.service.ledger import Ledger
from app.service.services import Services
from domain.reports import Kind
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS

CATCH_UP_SECONDS = 30.0


def auth(role: str | None = "backend") -> dict[str, str]:
    """The ``Authorization`` header of ``role`` (none for ``None``)."""
    return {} if role is None else {"Authorization": f"Bearer {API_TOKENS[role]}"}


def post_signed(http: httpx.Client, kind: str, body: dict[str, Any]) -> httpx.Response:
    """Post ``body`` to ``/webhooks/idenfy/{kind}``, signed with the first key; it must be
    acknowledged (200)."""
    raw = encode(body)
    response = http.post(
        f"/webhooks/idenfy/{kind}", content=raw, headers=signed_headers(raw, SIGNING_KEYS[0])
    )
    assert response.status_code == 200, response.text
    return response


def deliver(http: httpx.Client, kind: str, body: dict[str, Any]) -> int:
    """Post a signed ``kind`` webhook; the ``position`` the service answers with."""
    position: int = post_signed(http, kind, body).json()["position"]
    return position


def deliver_result(
    http: httpx.Client, scan_ref: str, kind: Kind = Kind.AUTO_FINISHED, **body: Any
) -> int:
    """Post a signed ``kind`` result for ``scan_ref``; it must be recorded; its ``position``."""
    response = post_signed(http, kind.value, result_body(scan_ref, **body))
    assert response.json()["result"] == "recorded"
    position: int = response.json()["position"]
    return position


def post_to_the_kindless_endpoint(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    """Post a signed result to ``/webhooks/idenfy``, its kind in the header; the answer."""
    raw = encode(body)
    headers = signed_headers(raw, SIGNING_KEYS[0], "IDENTIFICATION_AUTO_FINISHED")
    return http.post("/webhooks/idenfy", content=raw, headers=headers)


def wait_for_views(services: Services, position: int, timeout: float = CATCH_UP_SECONDS) -> None:
    """Wait for every view of ``services`` to reach ``position``."""
    for view in services.views.all():
        view.wait(Ledger.name, position, timeout=timeout)
