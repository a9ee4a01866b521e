"""What iDenfy told the ledger, and how the message reached it.

These value objects are the vocabulary the aggregate takes commands in. They are
plain, immutable and transport-neutral: the HTTP adapter builds them from a signed
delivery, and the aggregate turns them into recorded events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Kind(enum.StrEnum):
    """The kinds of iDenfy notification the ledger models, in their URL spelling."""

    IDENTIFICATION = "identification"
    AUTO_FINISHED = "auto-finished"
    MANUAL_FINISHED = "manual-finished"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    RESUBMITTED = "resubmitted"
    DOCUMENT_EXPIRATION = "document-expiration"
    OTHER = "other"
    """An authentic delivery of a type the ledger does not model, kept as it came."""
    AML_MONITORING = "aml-monitoring"
    """AML ongoing monitoring of a person, recorded on its own subject (``aml:{id}``)."""
    COMPANY = "company"
    """A KYB company webhook (submit, review, ...), recorded on ``company:{id}``; the type
    as sent (``COMPANY_REVIEW``...) is kept with it."""


STATUS_CHECKED = "status-checked"
"""The kind of an answer of iDenfy's status API, asked by ``ledger reconcile``: a fact of
the verification, but no delivery, so no ``Kind``."""
AML_SUBJECT = "aml:"
COMPANY_SUBJECT = "company:"
OTHER_SUBJECT = "other:"
"""Deliveries of a type the ledger does not model that name no verification, one subject
per type (``other:VIDEO_CALL_FINISHED``)."""
POLICY_PREFIX = "policy:"
POLICY_SUBJECT = f"{POLICY_PREFIX}in-force"
"""The history of the business policy in force (``ledger replay --policy``)."""
SUBJECT_PREFIXES = (AML_SUBJECT, COMPANY_SUBJECT, OTHER_SUBJECT, POLICY_PREFIX)
"""The ledger's subjects are verifications (keyed by scanRef) and, under these prefixes,
AML monitorings, KYB companies and unmodelled types; no scanRef starts with one of them."""
UNIDENTIFIED_COMPANY = "_unidentified"
"""The company id of company deliveries whose body names no company (ids never start
with ``_``)."""


def is_verification(subject: str) -> bool:
    """Whether ``subject`` is a verification's scanRef, not another kind of subject."""
    return not subject.startswith(SUBJECT_PREFIXES)


TYPED_KINDS = frozenset({Kind.OTHER, Kind.COMPANY})
"""Kinds whose deliveries keep the type as sent, so the same bytes under another type are
another delivery."""


@dataclass(frozen=True)
class Delivery:
    """The facts of one authentic webhook delivery, apart from what it says.

    ``header_kind`` keeps the raw ``Idenfy-Event-Type`` value when it disagreed with
    the kind taken from the receiver path. ``signing_key`` identifies the configured
    key that matched, by position and fingerprint, never the key itself.
    """

    kind: Kind
    received_at: datetime
    payload: bytes
    payload_sha256: str
    signing_key: str
    header_kind: str | None = None

    @property
    def idempotency_key(self) -> str:
        """The same kind with the same bytes is one delivery, however often it comes (for
        a type the ledger does not model, the same type as sent)."""
        if self.kind in TYPED_KINDS:
            return f"{self.kind.value}:{self.header_kind}:{self.payload_sha256}"
        return f"{self.kind.value}:{self.payload_sha256}"


@dataclass(frozen=True)
class Outcome:
    """The decision fields of a result payload; open enumerations kept as strings."""

    scan_ref: str
    client_id: str | None = None
    external_ref: str | None = None
    final: bool | None = None
    overall: str | None = None
    auto_document: str | None = None
    auto_face: str | None = None
    manual_document: str | None = None
    manual_face: str | None = None
    fraud_tags: tuple[str, ...] = field(default_factory=tuple)
    mismatch_tags: tuple[str, ...] = field(default_factory=tuple)
    finish_time: int | float | None = None


@dataclass(frozen=True)
class ExpirationNotice:
    """iDenfy's notice that the verified identity document expires, or has expired."""

    scan_ref: str
    client_id: str | None = None
    threshold: str | None = None
    document_expiration: str | None = None


@dataclass(frozen=True)
class OtherNotice:
    """A delivery of a type the ledger does not model, naming the verification it is about."""

    scan_ref: str
    client_id: str | None = None


@dataclass(frozen=True)
class MonitoringNotice:
    """An AML ongoing-monitoring webhook: the monitoring's state as iDenfy last checked it.

    Open enumerations are kept as strings; the matched list entries and personal details
    stay in the payload only.
    """

    monitoring_id: str
    client_id: str | None = None
    subject_status: str | None = None
    alert_status: str | None = None
    peps_status: str | None = None
    sanctions_status: str | None = None
    adverse_media_status: str | None = None
    scan_refs: tuple[str, ...] = ()

    @property
    def scan_ref(self) -> str:
        """The subject the notice is recorded on."""
        return f"{AML_SUBJECT}{self.monitoring_id}"


@dataclass(frozen=True)
class CompanyNotice:
    """A KYB company webhook: which company, and the status word its body states, if any."""

    company_id: str
    client_id: str | None = None
    subject_status: str | None = None

    @property
    def scan_ref(self) -> str:
        """The subject the notice is recorded on."""
        return f"{COMPANY_SUBJECT}{self.company_id}"


Report = Outcome | ExpirationNotice | OtherNotice | MonitoringNotice | CompanyNotice
"""What one delivery says, as the aggregate takes it."""


@dataclass(frozen=True)
class StatusCheckReport:
    """What iDenfy's status API answered when the ledger asked about a verification that
    had gone quiet: the answer's bytes and digest, and, when it can be used, its status and
    verdicts; when it cannot, why (``cause``), and then it decides nothing."""

    scan_ref: str
    asked_at: datetime
    http_status: int
    payload: bytes
    payload_sha256: str
    overall: str | None = None
    auto_document: str | None = None
    auto_face: str | None = None
    manual_document: str | None = None
    manual_face: str | None = None
    fraud_tags: tuple[str, ...] = ()
    mismatch_tags: tuple[str, ...] = ()
    cause: str | None = None


@dataclass(frozen=True)
class Registration:
    """A verification token the business backend generated and announced to the ledger."""

    scan_ref: str
    client_id: str
    external_ref: str | None = None
    max_reattempts: int = 1
    max_image_recaptures: int = 3
    expiry_time: int | None = None
    session_length: int | None = None


@dataclass(frozen=True)
class Receipt:
    """Where a delivery or registration stands in its verification's history."""

    scan_ref: str
    sequence: int
    duplicate: bool
    position: int | None = None
