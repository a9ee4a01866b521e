"""Facts straight from stored events, for replays that read the whole ledger.

Decoding every stored event into a domain object costs more than the rest of a
replay. This reads only the fields the rules need from the stored JSON (msgspec
skips the payload), and gives exactly the ``Fact`` that ``projections.facts.fact_of``
gives for the decoded event; a stored event it does not know how to read (another
class version, an unknown topic) is decoded the library's way instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from eventsourcing.persistence import Mapper, Notification

from adapters.bulk_load import EventRow, notification_of, select_rows_after
from adapters.recent_rows import RecentRows
from domain.event_classes import RESULT_EVENTS
from domain.verification import Verification
from projections.facts import DOCUMENT_EXPIRATION, REGISTERED, Fact, fact_from, fact_of


class Typed(msgspec.Struct, frozen=True):
    """A value the library's transcoder wrote as ``{"_type_": ..., "_data_": ...}``."""

    type: str = msgspec.field(name="_type_")
    data: str = msgspec.field(name="_data_")


class StoredState(msgspec.Struct, frozen=True):
    """The fields of a stored verification event that facts are made of."""

    scan_ref: str
    timestamp: Typed
    received_at: Typed | None = None
    kind: str | None = None
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
    finish_time: int | float | None = None
    max_reattempts: int | None = None
    max_image_recaptures: int | None = None
    threshold: str | None = None
    document_expiration: str | None = None
    prev_hash: str | None = None
    hash: str | None = None
    signing_key: str | None = None
    header_kind: str | None = None
    subject_status: str | None = None
    alert_status: str | None = None
    peps_status: str | None = None
    sanctions_status: str | None = None
    adverse_media_status: str | None = None
    scan_refs: tuple[str, ...] = ()
    expiry_time: int | None = None
    session_length: int | None = None
    cause: str | None = None
    erased_by: str | None = None
    reason: str | None = None
    # Those two are an erasure's (read the library's way, its topic is not known here),
    # so always None; with them a stored state has every field a fact carries, and
    # ``fact_from`` takes them all in one step instead of one by one.
    class_version: int = 1


def _topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


REGISTERED_TOPIC = _topic(Verification.Registered)
EXPIRATION_TOPIC = _topic(Verification.DocumentExpirationNoticed)
OTHER_TOPIC = _topic(Verification.OtherReported)
FAST_TOPICS = {
    _topic(Verification.MonitoringReported),
    _topic(Verification.CompanyReported),
    _topic(Verification.StatusChecked),
}
KNOWN_TOPICS = {REGISTERED_TOPIC, EXPIRATION_TOPIC, OTHER_TOPIC, *FAST_TOPICS} | {
    _topic(c) for c in RESULT_EVENTS.values()
}

_decoder = msgspec.json.Decoder(StoredState)


def _iso(value: Typed) -> str:
    """As ``projections.facts`` writes times: UTC, always with microseconds."""
    text = value.data
    # The library stores times with ``isoformat()``: UTC ones need only a new ending.
    if text.endswith("+00:00") and text[10:11] == "T":
        if len(text) == 32:
            return text[:26] + "Z"
        if len(text) == 25:
            return text[:19] + ".000000Z"
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def stored_state(mapper: Mapper[Any], notification: Notification) -> StoredState | None:
    """The stored fields of a current-version verification event, else None."""
    return stored_state_of(mapper, notification.topic, notification.state)


def stored_state_of(mapper: Mapper[Any], topic: str, state: bytes) -> StoredState | None:
    if topic not in KNOWN_TOPICS:
        return None
    if mapper.cipher is not None:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor is not None:
        state = mapper.compressor.decompress(state)
    stored = _decoder.decode(state)
    return stored if stored.class_version == 1 else None


def read_facts(
    recorder: Any, mapper: Mapper[Any], start: int, limit: int, keep: RecentRows | None = None
) -> tuple[list[tuple[str, Fact]], int, int]:
    """(scanRef, fact) of up to ``limit`` events after position ``start``, the last
    position read, and how many events were read; the rows read are kept in ``keep``
    for this process's other readers."""
    rows = select_rows_after(recorder, start, limit)
    if keep is not None:
        keep.keep(start, rows)
    return (
        [_scan_ref_and_fact(mapper, row) for row in rows],
        rows[-1][0] if rows else start,
        len(rows),
    )


def _scan_ref_and_fact(mapper: Mapper[Any], row: EventRow) -> tuple[str, Fact]:
    position, sequence, topic, state, _ = row
    stored = stored_state_of(mapper, topic, state)
    if stored is not None:
        return stored.scan_ref, _fact(topic, position, sequence, stored)
    event = mapper.to_domain_event(notification_of(row))
    assert isinstance(event, Verification.Event)
    return event.scan_ref, fact_of(event, position)


def kind_and_time(topic: str, stored: StoredState) -> tuple[str, str]:
    """The timeline kind and the received time of a stored event."""
    if topic == REGISTERED_TOPIC:
        return REGISTERED, _iso(stored.timestamp)
    assert stored.received_at is not None
    kind = DOCUMENT_EXPIRATION if topic == EXPIRATION_TOPIC else str(stored.kind)
    return kind, _iso(stored.received_at)


def _fact(topic: str, position: int, version: int, stored: StoredState) -> Fact:
    kind, received_at = kind_and_time(topic, stored)
    return fact_from(stored, version, position, kind, received_at)
