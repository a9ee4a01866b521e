"""Bringing a store from before per-subject data keys to them, once, at set-up (ADR 31).

Such a store holds payloads as received inside each event's state, the whole state
encrypted under ``LEDGER_ENCRYPTION_KEY`` when one was set (and quarantined payloads
likewise). Each event is rewritten in place with its payload sealed under its
subject's data key and the rest of its state as the library stores it unencrypted:
every field an event's hash covers is unchanged (the hash covers the payload's SHA-256,
never its bytes), so chains, digests, checkpoints and proofs stay valid. Chunks commit
with the keys they made; an interrupted migration starts again where it stopped (a
sealed payload is never sealed twice), and the store is marked migrated at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from adapters.data_keys import DataKeys, is_sealed, write_sealing
from adapters.key_check import TABLE as KEY_CHECK
from adapters.payload_subjects import client_subject, ref_subject, subject_of
from adapters.quarantine import TABLE as QUARANTINE
from adapters.sql import Sql

LAYOUT_ROW = 2
SEALED_LAYOUT = "sealed-payloads-1"
CHUNK = 500


class Cipher(Protocol):
    def decrypt(self, ciphertext: bytes) -> bytes: ...


class MigrationError(Exception):
    """A stored event this migration cannot read; nothing after it was changed."""


def migrated(sql: Sql) -> bool:
    with sql.reading() as c:
        row = c.execute(
            f"SELECT mode FROM {sql.table(KEY_CHECK)} WHERE id = ?", (LAYOUT_ROW,)
        ).fetchone()
    return row is not None and row["mode"] == SEALED_LAYOUT


def mark_migrated(sql: Sql) -> None:
    with sql.transaction(commit=True) as c:
        c.execute(
            f"INSERT INTO {sql.table(KEY_CHECK)} (id, mode, sample) VALUES (?, ?, '')"
            " ON CONFLICT (id) DO NOTHING",
            (LAYOUT_ROW, SEALED_LAYOUT),
        )


def migrate_payloads(
    ledger: Any,
    cipher: Cipher | None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Seal every payload of ``ledger``'s events and quarantine not yet sealed, reading
    whole-state encrypted events with ``cipher``; how many events were rewritten."""
    keys: DataKeys = ledger.keys
    sql = keys.sql
    if migrated(sql):
        return 0
    recorder = ledger.recorder
    head = recorder.max_notification_id() or 0
    table = sql.table(recorder.events_table_name)
    clients: dict[str, str] = {}
    position = rewritten = 0
    while True:
        notifications = recorder.select_notifications(
            start=position, limit=CHUNK, inclusive_of_start=False
        )
        rewritten += _migrate_chunk(ledger, cipher, table, notifications, clients)
        if progress is not None and notifications:
            progress(notifications[-1].id, max(head, notifications[-1].id))
        if len(notifications) < CHUNK:
            break
        position = notifications[-1].id
    _migrate_quarantine(keys, cipher)
    mark_migrated(sql)
    return rewritten


def _migrate_chunk(
    ledger: Any, cipher: Cipher | None, table: str, notifications: Any, clients: dict[str, str]
) -> int:
    keys: DataKeys = ledger.keys
    transcoder = ledger.mapper.transcoder
    changed: list[tuple[Any, dict[str, Any], str]] = []
    subjects: dict[str, str | None] = {}
    links: list[tuple[str, str]] = []
    for notification in notifications:
        fields, encrypted = _decoded(transcoder, cipher, notification)
        owner = str(notification.originator_id)
        client = fields.get("client_id")
        scan_ref = fields.get("scan_ref", owner)
        if isinstance(client, str) and client and owner not in clients:
            clients[owner] = client
            links.append((ref_subject(scan_ref), client))
        payload = fields.get("payload")
        needs_seal = isinstance(payload, bytes) and not is_sealed(payload)
        if not (needs_seal or encrypted):
            continue
        known = clients.get(owner)
        subject = client_subject(known) if known else ref_subject(scan_ref)
        if needs_seal:
            subjects[subject] = known
        changed.append((notification, fields, subject))
    sealing = keys.sealing(subjects, links)
    rows = []
    for notification, fields, subject in changed:
        payload = fields.get("payload")
        if isinstance(payload, bytes) and not is_sealed(payload):
            fields["payload"] = sealing.seal(subject, payload)
        owner = notification.originator_id
        rows.append(
            (transcoder.encode(fields), _id(keys.sql, owner), notification.originator_version)
        )
    with keys.sql.transaction(commit=True) as c:
        write_sealing(c.cursor, keys.table, sealing, keys.sql.postgres)
        if rows:
            c.cursor.executemany(
                keys.sql.statement(
                    f"UPDATE {table} SET state = ?"
                    " WHERE originator_id = ? AND originator_version = ?"
                ),
                rows,
            )
    keys.remember(sealing)
    return len(rows)


def _decoded(
    transcoder: Any, cipher: Cipher | None, notification: Any
) -> tuple[dict[str, Any], bool]:
    """The event's stored fields, and whether its state was encrypted whole."""
    state = notification.state
    try:
        return transcoder.decode(state), False
    except Exception:
        if cipher is None:
            raise MigrationError(
                f"event {notification.id} does not decode: is LEDGER_ENCRYPTION_KEY the key"
                " the ledger was written with?"
            ) from None
    try:
        return transcoder.decode(cipher.decrypt(state)), True
    except Exception:
        raise MigrationError(f"event {notification.id} opens under no key given") from None


def _id(sql: Sql, originator_id: Any) -> Any:
    """The originator id as the store's column holds it."""
    value = UUID(str(originator_id))
    return value if sql.postgres else value.hex


def _migrate_quarantine(keys: DataKeys, cipher: Cipher | None) -> None:
    sql = keys.sql
    table = sql.table(QUARANTINE)
    with sql.reading() as c:
        rows = c.execute(f"SELECT id, identity, payload FROM {table}").fetchall()
    for row in rows:
        if row["payload"] is None or is_sealed(bytes(row["payload"])):
            continue
        body = bytes(row["payload"])
        if cipher is not None:
            with contextlib.suppress(ValueError):  # else kept before a key was set
                body = cipher.decrypt(body)
        subject, client = subject_of(body, str(row["identity"]))
        sealing = keys.sealing({subject: client})
        with sql.transaction(commit=True) as c:
            write_sealing(c.cursor, keys.table, sealing, sql.postgres)
            sealed = sealing.seal(subject, body)
            c.execute(f"UPDATE {table} SET payload = ? WHERE id = ?", (sealed, row["id"]))
        keys.remember(sealing)
