"""What the auditor UI shows of a verification's timeline: outcomes, redeliveries, payloads.

Pure functions over the timeline view's entries and the ledger's payloads, so the
templates only lay things out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.idenfy import SCAN_REF_PATTERN

OUTCOME_LABELS = {
    "registered": "registered by the backend",
    "notice": "document expiration notice",
    "other": "a type the ledger does not model, kept as sent",
    "aml-monitoring": "AML monitoring delivery (alert status shown)",
    "company": "KYB company webhook (status shown)",
    "preliminary": "preliminary (automated, awaiting manual review)",
    "manual": "final: manual review",
    "final": "final: automated",
    "closed": "closed",
    "erased": "personal data erased: the client's data keys destroyed",
}
CLOSING_KINDS = frozenset({"cancelled", "expired"})
ERASED = "erased"


def is_scan_ref(text: str) -> bool:
    """Whether ``text`` could be a scanRef at all."""
    return re.match(SCAN_REF_PATTERN, text) is not None


def _document(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def finish_time(raw: bytes | None) -> int | float | None:
    """iDenfy's ``finishTime`` of a payload, when it has a number there."""
    value = (_document(raw) or {}).get("finishTime")
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def legacy_manual(raw: bytes | None) -> bool:
    """Whether a payload is a legacy result (no ``final``) carrying a reviewer's verdict:
    the manual decision under rule 2 of version 2."""
    document = _document(raw) or {}
    status = document.get("status")
    if "final" in document or not isinstance(status, dict):
        return False
    return status.get("manualDocument") is not None or status.get("manualFace") is not None


def iso_time(epoch: int | float | None) -> str | None:
    """A ``finishTime`` (seconds since the epoch) in ISO 8601 UTC, when it is one."""
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def outcome(entry: Mapping[str, Any], preliminary_finish_times: set[int | float | None]) -> str:
    """How an entry decided the verification, for styling: see ``OUTCOME_LABELS``."""
    kind = entry["kind"]
    if kind == "registered":
        return "registered"
    if kind in ("other", "aml-monitoring", "company", ERASED):
        return str(kind)
    if entry["status"] is None:
        return "notice"
    if kind in CLOSING_KINDS:
        return "closed"
    if entry["preliminary"]:
        return "preliminary"
    if kind == "manual-finished":
        return "manual"
    if kind == "identification" and entry.get("legacyManual"):
        return "manual"  # Rule 2: a legacy result without ``final`` with a manual verdict.
    twin = entry.get("finishTime")
    if kind == "identification" and twin is not None and twin in preliminary_finish_times:
        # Rule 2: a final legacy result with a preliminary twin is the manual one.
        return "manual"
    return "final"


def erasure_of(entries: Sequence[Mapping[str, Any]], sequence: int) -> Mapping[str, Any] | None:
    """The ``erased`` entry that made the payload at ``sequence`` unreadable: the first
    erasure recorded after it (None while the timeline shows none)."""
    return next((e for e in entries if e["kind"] == ERASED and e["sequence"] > sequence), None)


def timeline_items(
    entries: Sequence[Mapping[str, Any]], payloads: Mapping[int, bytes | None]
) -> list[dict[str, Any]]:
    """The timeline entries, each with its ``finishTime``, outcome and redelivery flag, and
    whether its payload can be shown or was erased (``None`` among ``payloads``)."""
    items = [
        dict(entry)
        | {
            "finishTime": finish_time(payloads.get(entry["sequence"])),
            "legacyManual": legacy_manual(payloads.get(entry["sequence"])),
        }
        for entry in entries
    ]
    preliminary = {item["finishTime"] for item in items if item["preliminary"]}
    seen: set[tuple[str, int]] = set()
    for item in items:
        item["finishedAt"] = iso_time(item["finishTime"])
        item["outcome"] = outcome(item, preliminary)
        item["outcomeLabel"] = OUTCOME_LABELS[item["outcome"]]
        key = (item["kind"], item["finishTime"])
        item["redelivery"] = item["finishTime"] is not None and key in seen
        if item["finishTime"] is not None:
            seen.add(key)
        item["inForce"] = item["status"] is not None and item["supersededBy"] is None
        item["hasPayload"] = payloads.get(item["sequence"]) is not None
        item["payloadErased"] = item["sequence"] in payloads and not item["hasPayload"]
        erasure = erasure_of(entries, item["sequence"]) if item["payloadErased"] else None
        item["erasedIn"] = None if erasure is None else erasure["sequence"]
    return items


def payload_text(raw: bytes) -> tuple[str, str | None]:
    """A payload for reading, and how it is written: indented JSON when it is JSON, else
    the text as it came (``None``); bytes that are not UTF-8 as base64 (``"base64"``), so
    that what is shown is exactly what was received, never replacement characters."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        pretty.encode("utf-8")  # a lone surrogate escape (\\ud800) cannot be shown
    except ValueError:  # UnicodeEncodeError is one
        return text, None
    return pretty, None


def payload_digest_matches(raw: bytes, entry: Mapping[str, Any]) -> bool:
    """Whether the payload still hashes to the digest recorded on its event."""
    return hashlib.sha256(raw).hexdigest() == entry.get("payloadSha256")
