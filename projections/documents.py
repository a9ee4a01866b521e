"""The shapes of what the rules derive: a verification's status document and the
entries of its audit timeline. The read API returns them as they are, and its OpenAPI
document is generated from these definitions (``app.http.documents``).

The keys the API has always promised are required; the others are present in every
document the rules make, but were never promised.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class DocumentExpiration(TypedDict):
    """The last document-expiration notice: its threshold and the document's date."""

    threshold: str | None
    date: str | None


class AmlMonitoringLink(TypedDict):
    """The AML ongoing monitoring that last named the verification, as it then stood."""

    monitoringId: str
    status: str | None
    alertStatus: str | None


class StatusCheck(TypedDict):
    """What iDenfy's status API last answered (``ledger reconcile``): when, the status, and
    why the answer could not be used (null when it could)."""

    at: str
    status: str | None
    cause: NotRequired[str | None]


class Completeness(TypedDict):
    """When a verification should have ended, and whether it is overdue."""

    registeredAt: NotRequired[str | None]
    expectedBy: NotRequired[str | None]
    finished: NotRequired[bool]
    deadline: str | None
    overdue: bool
    lastStatusCheck: StatusCheck | None


class StatusDocument(TypedDict):
    """A verification's status under the rules in force."""

    scanRef: str
    clientId: NotRequired[str | None]
    externalRef: NotRequired[str | None]
    status: str | None
    final: bool
    decidedBy: NotRequired[Literal["auto", "manual"] | None]
    awaitingManualReview: NotRequired[bool]
    autoDocument: NotRequired[str | None]
    autoFace: NotRequired[str | None]
    manualDocument: NotRequired[str | None]
    manualFace: NotRequired[str | None]
    fraudTags: NotRequired[list[str]]
    mismatchTags: NotRequired[list[str]]
    suspected: NotRequired[bool]
    attempts: NotRequired[int]
    reattemptsAllowed: NotRequired[int]
    reattemptsUsed: NotRequired[int]
    reattemptsRemaining: NotRequired[int]
    maxImageRecaptures: NotRequired[int]
    events: int
    firstEventAt: NotRequired[str | None]
    lastEventAt: NotRequired[str | None]
    lastPosition: NotRequired[int]
    documentExpiration: NotRequired[DocumentExpiration | None]
    registeredAt: NotRequired[str | None]
    expectedBy: NotRequired[str | None]
    finished: NotRequired[bool]
    deadline: str | None
    overdue: bool
    lastStatusCheck: StatusCheck | None
    sequences: NotRequired[dict[str, Any]]
    rulesVersion: int
    amlMonitoring: NotRequired[AmlMonitoringLink | None]


class MonitoringDocument(TypedDict):
    """An AML ongoing monitoring, as iDenfy's latest delivery about it stated it."""

    monitoringId: str
    clientId: str | None
    status: str | None
    alertStatus: str | None
    pepsStatus: str | None
    sanctionsStatus: str | None
    adverseMediaStatus: str | None
    scanRefs: list[str]
    events: int
    firstEventAt: str | None
    lastEventAt: str | None
    lastPosition: int
    rulesVersion: int


class CompanyDocument(TypedDict):
    """A KYB company's latest status word and the webhook type that stated it."""

    companyId: str
    identified: bool
    clientId: str | None
    status: str | None
    eventType: str | None
    events: int
    firstEventAt: str | None
    lastEventAt: str | None
    lastPosition: int
    rulesVersion: int


class TimelineEntry(TypedDict):
    """One event of a verification, in arrival order, with lateness and supersession.

    With ``?payload=1`` each entry has its ``payload`` exactly as received: the text when
    the bytes are UTF-8, else their base64 with ``payloadEncoding`` ``"base64"``.
    """

    sequence: int
    kind: str
    receivedAt: str
    final: NotRequired[bool | None]
    status: NotRequired[str | None]
    preliminary: NotRequired[bool]
    lateArrival: bool
    supersededBy: NotRequired[int | None]
    payloadSha256: NotRequired[str | None]
    prevHash: NotRequired[str | None]
    hash: str | None
    payload: NotRequired[str | None]
    payloadEncoding: NotRequired[Literal["base64"]]
    payloadErased: NotRequired[bool]
    erasedBy: NotRequired[str | None]
    reason: NotRequired[str | None]
    decision: NotRequired[str]
    decisionReasons: NotRequired[list[str]]
