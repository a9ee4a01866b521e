"""Authentic deliveries the ledger could not record as events, kept whole with their cause.

They live beside the events, in the same database, but outside the ledger: they
have no sequence and never change a verification's history until an operator
reprocesses them. The same delivery quarantined twice is kept once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore


@dataclass(frozen=True)
class QuarantinedDelivery:
    """One authentic but unusable delivery, with what is needed to reprocess it."""

    received_at: datetime
    cause: str
    payload: bytes
    payload_sha256: str
    signing_key: str | None
    path_kind: str | None
    event_type: str | None
    id: str = ""

    @property
    def identity(self) -> str:
        """Same receiver path, same event-type header, same bytes: the same delivery."""
        parts = f"{self.path_kind or ''}\x00{self.event_type or ''}\x00{self.payload_sha256}"
        return hashlib.sha256(parts.encode("utf-8", "surrogateescape")).hexdigest()


class Quarantine(Protocol):
    """Where unusable deliveries are kept."""

    def put(self, delivery: QuarantinedDelivery) -> str:
        """Keep ``delivery``; the id of the kept copy (an earlier one if it was known)."""
        ...

    def get(self, quarantine_id: str) -> QuarantinedDelivery | None: ...

    def count(self) -> int: ...


COLUMNS = "id, received_at, cause, payload, payload_sha256, signing_key, path_kind, event_type"


def _row_to_delivery(row: Any) -> QuarantinedDelivery:
    received_at = row["received_at"]
    if isinstance(received_at, str):
        received_at = datetime.fromisoformat(received_at)
    return QuarantinedDelivery(
        id=row["id"],
        received_at=received_at,
        cause=row["cause"],
        payload=bytes(row["payload"]),
        payload_sha256=row["payload_sha256"],
        signing_key=row["signing_key"],
        path_kind=row["path_kind"],
        event_type=row["event_type"],
    )


def _values(delivery: QuarantinedDelivery, new_id: str) -> tuple[Any, ...]:
    return (
        new_id,
        delivery.identity,
        delivery.received_at,
        delivery.cause,
        delivery.payload,
        delivery.payload_sha256,
        delivery.signing_key,
        delivery.path_kind,
        delivery.event_type,
    )


class SQLiteQuarantine:
    """Quarantine in the ledger's SQLite database."""

    def __init__(self, datastore: SQLiteDatastore, table: str = "ledger_quarantine"):
        self.datastore = datastore
        self.table = table
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, identity TEXT UNIQUE"
                ", received_at TEXT, cause TEXT, payload BLOB, payload_sha256 TEXT"
                ", signing_key TEXT, path_kind TEXT, event_type TEXT)"
            )

    def put(self, delivery: QuarantinedDelivery) -> str:
        values = list(_values(delivery, uuid.uuid4().hex))
        values[2] = delivery.received_at.isoformat()
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (id, identity, {COLUMNS.removeprefix('id, ')})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (identity) DO NOTHING",
                values,
            )
            cursor.execute(f"SELECT id FROM {self.table} WHERE identity = ?", (delivery.identity,))
            return str(cursor.fetchone()["id"])

    def get(self, quarantine_id: str) -> QuarantinedDelivery | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM {self.table} WHERE id = ?", (quarantine_id,))
            row = cursor.fetchone()
        return None if row is None else _row_to_delivery(row)

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT COUNT(*) AS n FROM {self.table}")
            return int(cursor.fetchone()["n"])


class PostgresQuarantine:
    """Quarantine in the ledger's PostgreSQL database (and schema)."""

    def __init__(self, datastore: PostgresDatastore, table: str = "ledger_quarantine"):
        self.datastore = datastore
        self.table = f'"{datastore.schema}"."{table}"'
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (id text PRIMARY KEY"
                ", identity text UNIQUE, received_at timestamptz, cause text, payload bytea"
                ", payload_sha256 text, signing_key text, path_kind text, event_type text)"
            )

    def put(self, delivery: QuarantinedDelivery) -> str:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (id, identity, {COLUMNS.removeprefix('id, ')})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (identity) DO NOTHING",
                _values(delivery, uuid.uuid4().hex),
            )
            cursor.execute(f"SELECT id FROM {self.table} WHERE identity = %s", (delivery.identity,))
            row = cursor.fetchone()
            assert row is not None
            return str(row["id"])

    def get(self, quarantine_id: str) -> QuarantinedDelivery | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM {self.table} WHERE id = %s", (quarantine_id,))
            row = cursor.fetchone()
        return None if row is None else _row_to_delivery(row)

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT COUNT(*) AS n FROM {self.table}")
            row = cursor.fetchone()
            assert row is not None
            return int(row["n"])
