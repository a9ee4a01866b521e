"""Taking in one webhook delivery: authenticate, classify, decode, record or quarantine.

The HTTP endpoint and ``ledger quarantine reprocess`` both go through ``take``, so a
reprocessed delivery meets exactly the checks and the idempotency of a live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import PersistenceError

from adapters.idenfy import (
    UnusablePayloadError,
    decode_report,
    header_kind,
    header_name,
    looks_like_idenfy,
    unnamed_other,
)
from adapters.quarantine import QuarantinedDelivery, QuarantineFullError
from app.logs import annotate
from app.service.errors import StoreUnavailableError
from app.service.services import Services
from domain.reports import Delivery, Kind, Receipt, Report, is_verification


@dataclass(frozen=True)
class Incoming:
    """A delivery as it arrived: bytes, signature, and where it said what it is."""

    body: bytes
    signature: str | None
    path_kind: Kind | None
    event_type: str | None
    received_at: datetime
    signing_key: str | None = None  # already established, when reprocessing
    source: str | None = None  # the sender's address, as the HTTP edge saw it


@dataclass(frozen=True)
class Answer:
    """The HTTP status and JSON body a delivery gets."""

    status: int
    body: dict[str, Any]


def resolve_kind(path_kind: Kind | None, header: str | None) -> tuple[Kind | None, str | None]:
    """The delivery's kind and, when the header disagreed with the path, the header."""
    named = header_kind(header) if header is not None else None
    if path_kind is not None:
        disagrees = header is not None and named is not path_kind
        return path_kind, header if disagrees else None
    if header is None:
        return Kind.IDENTIFICATION, None
    return named, None


@dataclass(frozen=True)
class Examined:
    """What checking a delivery found: what to record, or why it cannot be."""

    digest: str
    key: str | None
    delivery: Delivery | None = None
    report: Report | None = None
    cause: str = ""


def examine(services: Services, incoming: Incoming) -> Examined:
    """Authenticate, classify and decode ``incoming``; no input or output."""
    digest = hashlib.sha256(incoming.body).hexdigest()
    key = incoming.signing_key
    if key is None and services.verifier is not None:
        key = services.verifier.matching_key(incoming.body, incoming.signature)
    if key is None:
        return Examined(digest, None, cause="missing or wrong Idenfy-Signature")
    kind, disagreeing_header = resolve_kind(incoming.path_kind, incoming.event_type)
    if kind is None:
        # A type the ledger does not model: recorded as it came, on the verification it
        # names; kept in quarantine only when it names none.
        kind, disagreeing_header = Kind.OTHER, incoming.event_type
    elif kind is Kind.COMPANY and incoming.event_type is not None:
        # Which company webhook it is lives only in its type: kept, in one spelling.
        disagreeing_header = header_name(incoming.event_type)
    try:
        report = decode_report(kind, incoming.body)
    except UnusablePayloadError as error:
        if kind is not Kind.OTHER:
            return Examined(digest, key, cause=f"unusable {kind} payload: {error}")
        try:  # naming no verification: on the type's own subject, if an object at all
            report = unnamed_other(incoming.event_type, incoming.body)
        except UnusablePayloadError as unusable:
            cause = (
                f"Idenfy-Event-Type {incoming.event_type!r} is not an event the ledger models,"
                f" and its body is no JSON object naming anything: {unusable}"
            )
            return Examined(digest, key, cause=cause)
    annotate(scan_ref=report.scan_ref, kind=kind.value)
    delivery = Delivery(kind, incoming.received_at, incoming.body, digest, key, disagreeing_header)
    return Examined(digest, key, delivery, report)


async def take(services: Services, incoming: Incoming) -> Answer:
    """Record ``incoming`` once, or keep it in quarantine; never raises for bad input.

    On an event loop: the checks run on it, the commit is awaited, and only a
    quarantine write (rare, and blocking) goes to a thread.
    """
    examined = examine(services, incoming)
    if examined.delivery is None or examined.report is None:
        return await asyncio.to_thread(turn_away, services, incoming, examined)
    try:
        receipt = await services.recorder.record_async(examined.delivery, examined.report)
    except StoreUnavailableError:
        return UNAVAILABLE
    return recorded(receipt)


UNAVAILABLE = Answer(503, {"error": "the ledger cannot commit right now"})


def recorded(receipt: Receipt) -> Answer:
    body: dict[str, Any] = {
        "result": "duplicate" if receipt.duplicate else "recorded",
        "scanRef": receipt.scan_ref,
        "sequence": receipt.sequence,
    }
    if not is_verification(receipt.scan_ref):
        body["subject"] = receipt.scan_ref  # aml:{monitoringId}, company:{id}
    if receipt.position is not None:
        body["position"] = receipt.position
    return Answer(200, body)


def turn_away(services: Services, incoming: Incoming, examined: Examined) -> Answer:
    """The answer to a delivery that cannot be recorded, kept in quarantine if authentic."""
    if examined.key is None:
        with contextlib.suppress(PersistenceError):
            _keep(services, incoming, examined.digest, None, examined.cause)
        return Answer(401, {"error": examined.cause})
    return _quarantined(services, incoming, examined.digest, examined.key, examined.cause)


def _keep(services: Services, incoming: Incoming, digest: str, key: str | None, cause: str) -> str:
    return services.quarantine.put(
        QuarantinedDelivery(
            received_at=incoming.received_at,
            cause=cause,
            payload=incoming.body,
            payload_sha256=digest,
            signing_key=key,
            path_kind=incoming.path_kind.value if incoming.path_kind else None,
            event_type=incoming.event_type,
            signature=None if key else (incoming.signature or "")[:200],
            source=incoming.source,
            plausible=key is None and looks_like_idenfy(incoming.body, incoming.signature),
        )
    )


def _quarantined(
    services: Services, incoming: Incoming, digest: str, key: str, cause: str
) -> Answer:
    try:
        quarantine_id = _keep(services, incoming, digest, key, cause)
    except QuarantineFullError:
        return Answer(503, {"error": "the quarantine is full; nothing was kept"})
    except PersistenceError:
        return Answer(503, {"error": "the quarantine cannot commit right now"})
    return Answer(202, {"result": "quarantined", "id": quarantine_id})
