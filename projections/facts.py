"""The compact facts the status rules read, one per recorded event.

A fact is what a projection keeps of an event: no payload, no personal data beyond
the identifiers, just enough to evaluate the rules again when the next event of
the same verification arrives, in whatever order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import singledispatch
from typing import NamedTuple

from domain.verification import Verification

REGISTERED = "registered"
DOCUMENT_EXPIRATION = "document-expiration"
CANCELLED = "cancelled"
EXPIRED = "expired"


class Fact(NamedTuple):
    """One event of a verification, as the rules see it.

    A named tuple: a replay makes one per event and passes them between its processes,
    so they must be cheap to make, and codecs take them as arrays of their field values
    in this order. A field added later must come last, with a default.
    """

    sequence: int
    position: int
    kind: str
    received_at: str
    client_id: str | None = None
    external_ref: str | None = None
    payload_sha256: str | None = None
    final: bool | None = None
    overall: str | None = None
    auto_document: str | None = None
    auto_face: str | None = None
    manual_document: str | None = None
    manual_face: str | None = None
    fraud_tags: tuple[str, ...] = ()
    mismatch_tags: tuple[str, ...] = ()
    finish_time: int | None = None
    max_reattempts: int | None = None
    max_image_recaptures: int | None = None
    threshold: str | None = None
    document_expiration: str | None = None
    prev_hash: str | None = None
    hash: str | None = None

    @property
    def is_result(self) -> bool:
        return self.kind not in (REGISTERED, DOCUMENT_EXPIRATION)


def _iso(moment: datetime) -> str:
    """UTC with microseconds always, so that the strings sort as the times do."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@singledispatch
def fact_of(event: Verification.Event, position: int) -> Fact:
    """The fact an event contributes; every recorded event class has a handler."""
    raise TypeError(f"no fact for {type(event).__qualname__}")


@fact_of.register
def _registered(event: Verification.Registered, position: int) -> Fact:
    return Fact(
        sequence=event.originator_version,
        position=position,
        prev_hash=event.prev_hash,
        hash=event.hash,
        kind=REGISTERED,
        received_at=_iso(event.timestamp),
        client_id=event.client_id,
        external_ref=event.external_ref,
        max_reattempts=event.max_reattempts,
        max_image_recaptures=event.max_image_recaptures,
    )


@fact_of.register
def _result(event: Verification.ResultReported, position: int) -> Fact:
    return Fact(
        sequence=event.originator_version,
        position=position,
        prev_hash=event.prev_hash,
        hash=event.hash,
        kind=event.kind,
        received_at=_iso(event.received_at),
        client_id=event.client_id,
        external_ref=event.external_ref,
        payload_sha256=event.payload_sha256,
        final=event.final,
        overall=event.overall,
        auto_document=event.auto_document,
        auto_face=event.auto_face,
        manual_document=event.manual_document,
        manual_face=event.manual_face,
        fraud_tags=tuple(event.fraud_tags),
        mismatch_tags=tuple(event.mismatch_tags),
        finish_time=event.finish_time,
    )


@fact_of.register
def _expiration(event: Verification.DocumentExpirationNoticed, position: int) -> Fact:
    return Fact(
        sequence=event.originator_version,
        position=position,
        prev_hash=event.prev_hash,
        hash=event.hash,
        kind=DOCUMENT_EXPIRATION,
        received_at=_iso(event.received_at),
        client_id=event.client_id,
        payload_sha256=event.payload_sha256,
        threshold=event.threshold,
        document_expiration=event.document_expiration,
    )
