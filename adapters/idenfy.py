"""iDenfy's webhook vocabulary: event-type names and payload shapes, decoded with msgspec.

The structs mirror only the fields the ledger decides on. Everything else in a
payload, and any field iDenfy adds later, is ignored here and kept in the original
bytes recorded with the event. Enumerations are open: they decode as plain strings.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

import msgspec

from domain.reports import (
    OTHER_SUBJECT,
    UNIDENTIFIED_COMPANY,
    CompanyNotice,
    ExpirationNotice,
    Kind,
    MonitoringNotice,
    OtherNotice,
    Outcome,
    Report,
)

# The ``Idenfy-Event-Type`` header values the ledger models, and their kinds.
HEADER_KINDS: dict[str, Kind] = {
    "IDENTIFICATION": Kind.IDENTIFICATION,
    "IDENTIFICATION_AUTO_FINISHED": Kind.AUTO_FINISHED,
    "IDENTIFICATION_MANUAL_FINISHED": Kind.MANUAL_FINISHED,
    "IDENTIFICATION_CANCELLED": Kind.CANCELLED,
    "IDENTIFICATION_CANCELED": Kind.CANCELLED,
    "IDENTIFICATION_EXPIRED": Kind.EXPIRED,
    "IDENTIFICATION_RESUBMITTED": Kind.RESUBMITTED,
    "DOCUMENT_EXPIRATION": Kind.DOCUMENT_EXPIRATION,
    "AML_MONITORING": Kind.AML_MONITORING,
}
COMPANY_TYPE = "COMPANY_"
"""Every KYB company webhook type starts so (``COMPANY_SUBMIT``, ``COMPANY_REVIEW``,
``COMPANY_AML_REVIEW``, ``COMPANY_EXPIRATION``, ``COMPANY_INFO_REQUEST``, ...)."""

_SEPARATORS = re.compile(r"[\s_-]+")
_SYNONYMS = (("ID_VERIFICATION", "IDENTIFICATION"),)


def header_name(value: str) -> str:
    """An ``Idenfy-Event-Type`` value in one spelling, however iDenfy wrote it: upper case,
    spaces, hyphens and underscores alike, ``ID_VERIFICATION`` for ``IDENTIFICATION`` and
    ``FINISH`` for ``FINISHED`` (the dashboard's ``ID VERIFICATION AUTO FINISH``)."""
    name = _SEPARATORS.sub("_", value.strip().upper()).strip("_")
    for synonym, canonical in _SYNONYMS:
        if name == synonym or name.startswith(f"{synonym}_"):
            name = canonical + name[len(synonym) :]
    if name.endswith("_FINISH"):
        name += "ED"
    return name


def header_kind(value: str) -> Kind | None:
    """The kind an ``Idenfy-Event-Type`` value names (see ``header_name``)."""
    name = header_name(value)
    if name.startswith(COMPANY_TYPE):
        return Kind.COMPANY
    return HEADER_KINDS.get(name)


# Receiver-path spellings: every kind the ledger models, plus the one-L American spelling
# of cancelled. (``other`` is what an unmodelled type becomes, not a path; a company
# delivery is known by its type, which the path cannot say.)
PATH_KINDS: dict[str, Kind] = {
    kind.value: kind for kind in Kind if kind not in (Kind.OTHER, Kind.COMPANY)
}
PATH_KINDS["canceled"] = Kind.CANCELLED

# A scanRef never starts as the ledger's other subjects do (``aml:``, ``company:``, ``other:``).
SCAN_REF_PATTERN = r"\A(?!aml:|company:|other:|policy:)[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z"
ScanRef = Annotated[str, msgspec.Meta(pattern=SCAN_REF_PATTERN)]
SUBJECT_ID_PATTERN = r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z"
"""A monitoring's or company's id: like a scanRef, without colons."""
SubjectId = Annotated[str, msgspec.Meta(pattern=SUBJECT_ID_PATTERN)]
# iDenfy sends epoch seconds whole (1718787742) or with a fraction (1554727002.254685, its
# 2019 examples). A fraction is read as the nearest double: to the microsecond, that keeps
# every value apart and in order, and prints back as it was sent.
EpochSeconds = (
    Annotated[int, msgspec.Meta(ge=0, le=2**53)] | Annotated[float, msgspec.Meta(ge=0, le=2**53)]
)
# Any text but NUL, which PostgreSQL cannot store in text columns.
NO_NUL = r"\A[^\x00]*\Z"
OpenText = Annotated[str, msgspec.Meta(max_length=1000, pattern=NO_NUL)]


class Status(msgspec.Struct, frozen=True):
    """``status``: the overall result and the automated and manual sub-results."""

    overall: OpenText | None = None
    autoDocument: OpenText | None = None
    autoFace: OpenText | None = None
    manualDocument: OpenText | None = None
    manualFace: OpenText | None = None
    fraudTags: list[OpenText] | None = None
    mismatchTags: list[OpenText] | None = None


class ResultPayload(msgspec.Struct, frozen=True):
    """The body every identification result kind shares (``IdentificationWebhook``)."""

    scanRef: ScanRef
    clientId: OpenText | None = None
    externalRef: OpenText | None = None
    final: bool | None = None
    status: Status | None = None
    finishTime: EpochSeconds | None = None


class ExpirationPayload(msgspec.Struct, frozen=True):
    """The small body of a ``DOCUMENT_EXPIRATION`` notice."""

    scanRef: ScanRef
    clientId: OpenText | None = None
    expirationThreshold: OpenText | None = None
    documentExpiration: OpenText | None = None


class OtherPayload(msgspec.Struct, frozen=True):
    """What the ledger reads of a delivery of a type it does not model: whom it is about."""

    scanRef: ScanRef
    clientId: OpenText | None = None


class MonitoringPayload(msgspec.Struct, frozen=True):
    """What the ledger reads of an AML ongoing-monitoring body (``amlMonitoring``)."""

    monitoringId: SubjectId
    clientId: OpenText | None = None
    status: OpenText | None = None
    alertStatus: OpenText | None = None
    pepsStatus: OpenText | None = None
    sanctionsStatus: OpenText | None = None
    adverseMediaStatus: OpenText | None = None
    scanRefList: list[ScanRef] | None = None


class CompanyPayload(msgspec.Struct, frozen=True):
    """What the ledger reads of a KYB company body: which company, and its status word."""

    companyId: SubjectId | None = None
    id: SubjectId | None = None
    clientId: OpenText | None = None
    status: OpenText | None = None
    expirationStatus: OpenText | None = None


_other_decoder = msgspec.json.Decoder(OtherPayload)
_monitoring_decoder = msgspec.json.Decoder(MonitoringPayload)
_company_decoder = msgspec.json.Decoder(CompanyPayload)
_result_decoder = msgspec.json.Decoder(ResultPayload)
_expiration_decoder = msgspec.json.Decoder(ExpirationPayload)


class UnusablePayloadError(ValueError):
    """An authentic body the ledger cannot record as an event; the text is the cause."""


def _check_date(value: str | None) -> None:
    """``documentExpiration`` must be a real ISO 8601 date, not only shaped like one."""
    if value is None:
        return
    try:
        shaped = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) is not None
        if not shaped:
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise UnusablePayloadError(
            f"documentExpiration {value!r} is not an ISO 8601 date (YYYY-MM-DD)"
        ) from None


def decode_report(kind: Kind, body: bytes) -> Report:
    """The decision fields of ``body`` read as a ``kind`` delivery."""
    try:
        if kind is Kind.OTHER:
            other = _other_decoder.decode(body)
            return OtherNotice(scan_ref=other.scanRef, client_id=other.clientId)
        if kind is Kind.AML_MONITORING:
            return _monitoring(_monitoring_decoder.decode(body))
        if kind is Kind.COMPANY:
            company = _company_decoder.decode(body)
            return CompanyNotice(
                company_id=company.companyId or company.id or UNIDENTIFIED_COMPANY,
                client_id=company.clientId,
                subject_status=company.status or company.expirationStatus,
            )
        if kind is Kind.DOCUMENT_EXPIRATION:
            notice = _expiration_decoder.decode(body)
            _check_date(notice.documentExpiration)
            return ExpirationNotice(
                scan_ref=notice.scanRef,
                client_id=notice.clientId,
                threshold=notice.expirationThreshold,
                document_expiration=notice.documentExpiration,
            )
        payload = _result_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise UnusablePayloadError(str(error)) from None
    except RecursionError:
        raise UnusablePayloadError("JSON nested too deeply") from None
    status = payload.status or Status()
    return Outcome(
        scan_ref=payload.scanRef,
        client_id=payload.clientId,
        external_ref=payload.externalRef,
        final=payload.final,
        overall=status.overall,
        auto_document=status.autoDocument,
        auto_face=status.autoFace,
        manual_document=status.manualDocument,
        manual_face=status.manualFace,
        fraud_tags=tuple(status.fraudTags or ()),
        mismatch_tags=tuple(status.mismatchTags or ()),
        finish_time=payload.finishTime,
    )


_TYPE_NAME = re.compile(r"\A[A-Z0-9][A-Z0-9_]{0,99}\Z")
UNNAMED_TYPE = "_UNNAMED"


def unnamed_other(event_type: str | None, body: bytes) -> OtherNotice:
    """A delivery of a type the ledger does not model whose body names no verification:
    recorded on the type's own subject (``other:{TYPE}``, the type in one spelling) when
    the body is a JSON object; anything else cannot be an event."""
    try:
        document: Any = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        raise UnusablePayloadError(str(error) or "not JSON") from None
    if not isinstance(document, dict):
        raise UnusablePayloadError("the body is not a JSON object")
    name = header_name(event_type or "")
    client_id = document.get("clientId")
    client = client_id if isinstance(client_id, str) and len(client_id) <= 1000 else None
    return OtherNotice(
        scan_ref=f"{OTHER_SUBJECT}{name if _TYPE_NAME.match(name) else UNNAMED_TYPE}",
        client_id=client if client is None or "\x00" not in client else None,
    )


def _monitoring(body: MonitoringPayload) -> MonitoringNotice:
    return MonitoringNotice(
        monitoring_id=body.monitoringId,
        client_id=body.clientId,
        subject_status=body.status,
        alert_status=body.alertStatus,
        peps_status=body.pepsStatus,
        sanctions_status=body.sanctionsStatus,
        adverse_media_status=body.adverseMediaStatus,
        scan_refs=tuple(dict.fromkeys(body.scanRefList or ())),
    )


SIGNATURE_SHAPE = re.compile(r"\A[0-9a-f]{64}\Z")


def looks_like_idenfy(body: bytes, signature: str | None) -> bool:
    """Whether an unsigned delivery has the shape of iDenfy's: an HMAC-SHA256 in hex, and
    a JSON object naming a scanRef. Anyone can forge the shape; it only orders what an
    unsigned quarantine gives up first."""
    if signature is None or not SIGNATURE_SHAPE.match(signature.strip().lower()):
        return False
    try:
        document: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    scan_ref = document.get("scanRef") if isinstance(document, dict) else None
    return isinstance(scan_ref, str) and re.match(SCAN_REF_PATTERN, scan_ref) is not None
