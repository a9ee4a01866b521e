"""Signed iDenfy deliveries for tests: realistic bodies, real signatures."""

from __future__ import annotations

import json
from typing import Any

from adapters.signing import sign


def result_body(
    scan_ref: str = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002",
    *,
    final: bool | None = True,
    overall: str = "APPROVED",
    finish_time: int | None = 1718787742,
    client_id: str = "user-7f3c2a",
    **extra: Any,
) -> dict[str, Any]:
    """An ``IdentificationWebhook`` body like iDenfy's, personal data invented."""
    body: dict[str, Any] = {
        "final": final,
        "platform": "MOBILE",
        "status": {
            "overall": overall,
            "fraudTags": [],
            "mismatchTags": [],
            "autoFace": "FACE_MATCH",
            "manualFace": "FACE_MATCH" if final else None,
            "autoDocument": "DOC_VALIDATED",
            "manualDocument": "DOC_VALIDATED" if final else None,
            "additionalSteps": None,
        },
        "data": {"docFirstName": "JONAS", "docLastName": "TESTAS", "docNumber": "LT0000001"},
        "fileUrls": {"FRONT": "https://files.example/FRONT.png?X-Amz-Expires=3600&sig=1"},
        "scanRef": scan_ref,
        "externalRef": "onb-1",
        "clientId": client_id,
        "startTime": 1718787600,
        "finishTime": finish_time,
        "clientIp": "203.0.113.24",
    }
    if final is None:
        del body["final"]
    body.update(extra)
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def signed_headers(
    raw: bytes, key: str, event_type: str | None = None, **extra: str
) -> dict[str, str]:
    headers = {"Idenfy-Signature": sign(key, raw), "Content-Type": "application/json"}
    if event_type is not None:
        headers["Idenfy-Event-Type"] = event_type
    headers.update(extra)
    return headers
