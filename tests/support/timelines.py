"""Audit timeline entries and payloads as the UI's model takes them, made by hand."""

from __future__ import annotations

import json
from typing import Any

NOT_RESULTS = ("registered", "document-expiration", "erased")


def timeline_entry(
    sequence: int, kind: str, *, payload_sha256: str | None = None, **changes: Any
) -> dict[str, Any]:
    """An entry of ``kind`` at ``sequence``, as the audit timeline projection writes it;
    a result (any kind but ``NOT_RESULTS``) approved, final and carrying
    ``payload_sha256``; ``changes`` replace fields."""
    result = kind not in NOT_RESULTS
    return {
        "sequence": sequence,
        "kind": kind,
        "receivedAt": f"2026-03-01T09:00:0{sequence}Z",
        "final": True if result else None,
        "status": "APPROVED" if result else None,
        "preliminary": False,
        "lateArrival": False,
        "supersededBy": None,
        "payloadSha256": payload_sha256 if result else None,
        "prevHash": None,
        "hash": f"h{sequence}",
    } | changes


def payload(finish_time: int | None = 100, **fields: Any) -> bytes:
    """A delivery's body naming ``s-1``."""
    return json.dumps({"scanRef": "s-1", "finishTime": finish_time} | fields).encode()
