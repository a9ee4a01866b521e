"""What iDenfy's status API answered about one verification, and whether it can be used.

``POST /api/v2/status`` answers a flat JSON object: ``status`` (the overall status, a
string), ``autoDocument``, ``autoFace``, ``manualDocument``, ``manualFace`` (null or empty
until a reviewer has decided), ``fraudTags``, ``mismatchTags``, ``scanRef`` and
``clientId``. An answer is kept whole, usable or not: its exact bytes and their SHA-256
are the evidence the ledger records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

KNOWN_STATUSES = frozenset(
    {
        "APPROVED",
        "DENIED",
        "SUSPECTED",
        "REVIEWING",
        "EXPIRED",
        "ACTIVE",
        "EXPIRED-DELETED",
        "DELETED",
        "ARCHIVED",
    }
)
"""The overall statuses iDenfy documents for a verification; any other makes the answer
unusable (the ledger cannot tell what it means)."""


class Cause(StrEnum):
    """Why an answer cannot be used; its value is what the ledger records."""

    REFUSED = "refused"
    """An HTTP status other than 200 that is no reason to ask again (400, 404...)."""
    NOT_JSON = "not-json"
    NOT_AN_OBJECT = "not-an-object"
    NO_STATUS = "no-status"
    UNKNOWN_STATUS = "unknown-status"
    NO_SCAN_REF = "no-scan-ref"
    OTHER_SCAN_REF = "other-scan-ref"


@dataclass(frozen=True)
class StatusAnswer:
    """A usable answer: the status iDenfy holds for the verification, and its verdicts."""

    status: str
    scan_ref: str
    """The scanRef the answer names (always the one asked)."""
    manual_document: str | None = None
    manual_face: str | None = None
    auto_document: str | None = None
    auto_face: str | None = None
    fraud_tags: tuple[str, ...] = ()
    mismatch_tags: tuple[str, ...] = ()

    @property
    def manual_verdict(self) -> bool:
        """Whether a reviewer decided: ``manualDocument`` or ``manualFace`` is set."""
        return self.manual_document is not None or self.manual_face is not None


@dataclass(frozen=True)
class StatusCheck:
    """One question to iDenfy's status API and its answer, usable or not."""

    scan_ref: str
    """The scanRef asked about."""
    http_status: int
    body: bytes = field(repr=False)
    """The answer's bytes, exactly as they came."""
    sha256: str
    """Hex SHA-256 of ``body``."""
    asked_at: datetime
    """When the question that got this answer was sent (UTC)."""
    answer: StatusAnswer | None
    """The parsed answer; None when ``cause`` says why it cannot be used."""
    cause: Cause | None
    detail: str = ""
    """A sentence saying what was wrong, for an unusable answer."""
    attempts: int = 1
    """How many requests it took (retries after 429, 5xx or a lost connection)."""

    @property
    def usable(self) -> bool:
        return self.answer is not None


def read_answer(
    scan_ref: str, http_status: int, body: bytes, asked_at: datetime, attempts: int = 1
) -> StatusCheck:
    """The check that ``body``, answered with ``http_status`` to a question about
    ``scan_ref``, makes: parsed, or with the first reason it cannot be used."""
    digest = hashlib.sha256(body).hexdigest()
    answer: StatusAnswer | None = None
    cause: Cause | None
    if http_status != 200:
        cause, detail = Cause.REFUSED, f"answered HTTP {http_status}"
    else:
        answer, cause, detail = parse(scan_ref, body)
    return StatusCheck(
        scan_ref=scan_ref,
        http_status=http_status,
        body=body,
        sha256=digest,
        asked_at=asked_at,
        answer=answer,
        cause=cause,
        detail=detail,
        attempts=attempts,
    )


def parse(scan_ref: str, body: bytes) -> tuple[StatusAnswer | None, Cause | None, str]:
    """The answer in ``body``, or why there is none."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, Cause.NOT_JSON, "the answer is not JSON"
    if not isinstance(document, dict):
        return None, Cause.NOT_AN_OBJECT, f"the answer is a JSON {type(document).__name__}"
    status = document.get("status")
    if status is None:
        return None, Cause.NO_STATUS, "the answer has no status"
    if not isinstance(status, str) or status not in KNOWN_STATUSES:
        return None, Cause.UNKNOWN_STATUS, f"unknown status {_shown(status)}"
    answered = document.get("scanRef")
    if answered is None:
        return None, Cause.NO_SCAN_REF, "the answer names no scanRef"
    if answered != scan_ref:
        return None, Cause.OTHER_SCAN_REF, f"the answer names scanRef {_shown(answered)}"
    return _answer(status, scan_ref, document), None, ""


def _answer(status: str, scan_ref: str, document: dict[str, Any]) -> StatusAnswer:
    return StatusAnswer(
        status=status,
        scan_ref=scan_ref,
        manual_document=_verdict(document.get("manualDocument")),
        manual_face=_verdict(document.get("manualFace")),
        auto_document=_verdict(document.get("autoDocument")),
        auto_face=_verdict(document.get("autoFace")),
        fraud_tags=_tags(document.get("fraudTags")),
        mismatch_tags=_tags(document.get("mismatchTags")),
    )


def _verdict(value: object) -> str | None:
    """A verdict field: a non-empty string, or None (iDenfy leaves it null or empty
    until it is decided). Any other value is kept as its JSON text."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _tags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(tag if isinstance(tag, str) else json.dumps(tag) for tag in value)


def _shown(value: object, limit: int = 80) -> str:
    """A value as it can be quoted in a sentence, never longer than ``limit``."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
