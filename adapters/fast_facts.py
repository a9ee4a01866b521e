"""Facts straight from stored events, for replays that read the whole ledger.

Decoding every stored event into a domain object costs more than the rest of a
replay. This reads only the fields the rules need from the stored JSON (msgspec
skips the payload), and gives exactly the ``Fact`` that ``projections.facts.fact_of``
gives for the decoded event; a stored event it does not know how to read (another
class version, an unknown topic) is decoded the library's way instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, Notification

from adapters.sql import Sql
from domain.verification import RESULT_EVENTS, Verification
from projections.facts import DOCUMENT_EXPIRATION, REGISTERED, Fact, fact_of


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
    fraud_tags: list[str] = []
    mismatch_tags: list[str] = []
    finish_time: int | None = None
    max_reattempts: int | None = None
    max_image_recaptures: int | None = None
    threshold: str | None = None
    document_expiration: str | None = None
    prev_hash: str | None = None
    hash: str | None = None
    signing_key: str | None = None
    header_kind: str | None = None
    class_version: int = 1


def _topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


REGISTERED_TOPIC = _topic(Verification.Registered)
EXPIRATION_TOPIC = _topic(Verification.DocumentExpirationNoticed)
KNOWN_TOPICS = {REGISTERED_TOPIC, EXPIRATION_TOPIC} | {_topic(c) for c in RESULT_EVENTS.values()}

_decoder = msgspec.json.Decoder(StoredState)


def _iso(value: Typed) -> str:
    """As ``projections.facts`` writes times: UTC, always with microseconds."""
    moment = datetime.fromisoformat(value.data).astimezone(UTC)
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


def facts_of(mapper: Mapper[Any], notifications: Sequence[Notification]) -> list[tuple[str, Fact]]:
    """(scanRef, fact) of each notification, in ledger order."""
    found: list[tuple[str, Fact]] = []
    for notification in notifications:
        stored = stored_state(mapper, notification)
        if stored is None:
            event = mapper.to_domain_event(notification)
            assert isinstance(event, Verification.Event)
            found.append((event.scan_ref, fact_of(event, notification.id)))
            continue
        found.append(
            (
                stored.scan_ref,
                _fact(notification.topic, notification.id, notification.originator_version, stored),
            )
        )
    return found


def read_facts(
    recorder: Any, mapper: Mapper[Any], start: int, limit: int
) -> tuple[list[tuple[str, Fact]], int, int]:
    """(scanRef, fact) of up to ``limit`` events after position ``start``, the last
    position read, and how many events were read.

    Reads the library's events table directly, as ``select_notifications`` does,
    but without making a ``Notification`` (and a ``UUID``) of every row first.
    """
    sql = Sql(recorder.datastore)
    table = sql.table(recorder.events_table_name)
    position = "notification_id" if sql.postgres else "rowid"
    with sql.transaction(commit=False) as c:
        rows = c.execute(
            f"SELECT {position} AS id, originator_id, originator_version, topic, state"
            f" FROM {table} WHERE {position} > ? ORDER BY {position} LIMIT ?",
            (start, limit),
            binary=True,
        ).fetchall()
    found: list[tuple[str, Fact]] = []
    for row in rows:
        topic, state = row["topic"], bytes(row["state"])
        stored = stored_state_of(mapper, topic, state)
        if stored is not None:
            found.append(
                (stored.scan_ref, _fact(topic, row["id"], row["originator_version"], stored))
            )
            continue
        notification = Notification(
            id=int(row["id"]),
            originator_id=UUID(str(row["originator_id"])),
            originator_version=int(row["originator_version"]),
            topic=topic,
            state=state,
        )
        found.extend(facts_of(mapper, [notification]))
    return found, (int(rows[-1]["id"]) if rows else start), len(rows)


def kind_and_time(topic: str, stored: StoredState) -> tuple[str, str]:
    """The timeline kind and the received time of a stored event."""
    if topic == REGISTERED_TOPIC:
        return REGISTERED, _iso(stored.timestamp)
    assert stored.received_at is not None
    kind = DOCUMENT_EXPIRATION if topic == EXPIRATION_TOPIC else str(stored.kind)
    return kind, _iso(stored.received_at)


def _fact(topic: str, position: int, version: int, stored: StoredState) -> Fact:
    kind, received_at = kind_and_time(topic, stored)
    return Fact(
        sequence=version,
        position=position,
        kind=kind,
        received_at=received_at,
        client_id=stored.client_id,
        external_ref=stored.external_ref,
        payload_sha256=stored.payload_sha256,
        final=stored.final,
        overall=stored.overall,
        auto_document=stored.auto_document,
        auto_face=stored.auto_face,
        manual_document=stored.manual_document,
        manual_face=stored.manual_face,
        fraud_tags=tuple(stored.fraud_tags),
        mismatch_tags=tuple(stored.mismatch_tags),
        finish_time=stored.finish_time,
        max_reattempts=stored.max_reattempts,
        max_image_recaptures=stored.max_image_recaptures,
        threshold=stored.threshold,
        document_expiration=stored.document_expiration,
        prev_hash=stored.prev_hash,
        hash=stored.hash,
    )
