"""The API's documents as types: the OpenAPI document's schemas are generated from
these (``app.http.openapi``). The status document and timeline entry are the rules'
own shapes (``projections.documents``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

import msgspec
from msgspec import UNSET, Meta, UnsetType

from projections.documents import CompanyDocument, MonitoringDocument, TimelineEntry
from projections.documents import StatusDocument as RulesDocument


class StatusDocument(RulesDocument):
    """A verification's status as served: the rules' document, and the decision of the
    policy in force (``projections.policy``)."""

    decision: NotRequired[Literal["approve", "deny", "review", "pending"]]
    decisionReasons: NotRequired[list[str]]
    decisionBasis: NotRequired[list[int]]
    policyVersion: NotRequired[str]


SCAN_REF_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
ScanRef = Annotated[str, Meta(pattern=SCAN_REF_PATTERN)]
Count = Annotated[int, Meta(ge=0, le=1000)]
Seconds = Annotated[int, Meta(ge=0)]


class Error(msgspec.Struct):
    """An error, with a human-readable ``error``."""

    error: str


class WebhookAnswer(msgspec.Struct, rename="camel"):
    result: Literal["recorded", "duplicate", "quarantined"]
    scan_ref: str | UnsetType = UNSET
    subject: str | UnsetType = UNSET
    sequence: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    position: int | UnsetType = UNSET
    id: str | UnsetType = UNSET


class Registration(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A verification token the backend generated."""

    scan_ref: ScanRef
    client_id: Annotated[str, Meta(min_length=1, max_length=100)]
    external_ref: Annotated[str, Meta(max_length=100)] | UnsetType | None = UNSET
    max_reattempts: Count | UnsetType = UNSET
    max_image_recaptures: Count | UnsetType = UNSET
    expiry_time: Seconds | UnsetType | None = UNSET
    session_length: Seconds | UnsetType | None = UNSET


class RegistrationAnswer(msgspec.Struct, rename="camel"):
    result: Literal["registered", "duplicate"]
    scan_ref: str
    sequence: int
    position: int | UnsetType = UNSET
    registration: Registration | UnsetType = UNSET


class StatusList(msgspec.Struct):
    """A page of status documents, newest activity first, and the cursor of the next."""

    items: list[StatusDocument]
    next: str | None


class MonitoringList(msgspec.Struct):
    """A page of AML monitorings by id, and the id to ask for the next page after."""

    items: list[MonitoringDocument]
    next: str | None


class CompanyList(msgspec.Struct):
    """A page of companies by id, and the id to ask for the next page after."""

    items: list[CompanyDocument]
    next: str | None


class Client(msgspec.Struct, rename="camel"):
    """A client's totals."""

    client_id: str
    verifications: int
    approved: int
    denied: int
    suspected: int
    latest_scan_ref: str | UnsetType = UNSET


class Chain(msgspec.Struct):
    """Whether the timeline's hash chain holds, and its head."""

    valid: bool | UnsetType = UNSET
    head: str | UnsetType | None = UNSET


class Timeline(msgspec.Struct, rename="camel"):
    scan_ref: str
    entries: list[TimelineEntry]
    chain: Chain
    decision: str | UnsetType = UNSET
    decision_reasons: list[str] | UnsetType = UNSET
    decision_basis: list[int] | UnsetType = UNSET
    policy_version: str | UnsetType = UNSET


class Digest(msgspec.Struct):
    """The ledger digest."""

    events: int
    digest: str
    at: str
    position: int | UnsetType = UNSET


class Access(msgspec.Struct):
    """Who read what, when."""

    entries: list[dict[str, Any]] | UnsetType = UNSET


REASON_LIMIT = 500
"""The longest reason a legal hold may give, in characters."""


class HoldRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /clients/{clientId}/holds``: why the client's data is held."""

    reason: Annotated[str, Meta(min_length=1, max_length=REASON_LIMIT)]


class Hold(msgspec.Struct, rename="camel"):
    """A legal hold in force: erasing the client's data is refused while it lasts."""

    id: str
    reason: str
    placed_at: str
    placed_by: str


class Retention(msgspec.Struct, rename="camel"):
    """A client's retention clock, its legal holds in force and its erasure (ADR 31):
    the relationship ends at the client's last event unless ended earlier by hand, and
    its data is kept until ``retainUntil``."""

    client_id: str
    relationship_ended_at: str | None
    retain_until: str | None
    holds: list[Hold]
    erased_at: str | None
    erased_by: str | None
    erasure_reason: str | None
    verifications: int


DOCUMENTS: tuple[Any, ...] = (
    Error,
    WebhookAnswer,
    Registration,
    RegistrationAnswer,
    StatusDocument,
    StatusList,
    MonitoringDocument,
    MonitoringList,
    CompanyDocument,
    CompanyList,
    Client,
    TimelineEntry,
    Timeline,
    Digest,
    Access,
    HoldRequest,
    Hold,
    Retention,
)
