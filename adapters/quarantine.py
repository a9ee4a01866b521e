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

from adapters.sql import Sql


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
TABLE = "ledger_quarantine"


def _row_to_delivery(row: Any) -> QuarantinedDelivery:
    return QuarantinedDelivery(
        id=row["id"],
        received_at=datetime.fromisoformat(row["received_at"]),
        cause=row["cause"],
        payload=bytes(row["payload"]),
        payload_sha256=row["payload_sha256"],
        signing_key=row["signing_key"],
        path_kind=row["path_kind"],
        event_type=row["event_type"],
    )


class SqlQuarantine:
    """Quarantine in the ledger's own database (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql):
        self.sql = sql
        self.table = sql.table(TABLE)
        with sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (id TEXT PRIMARY KEY"
                ", identity TEXT UNIQUE, received_at TEXT, cause TEXT"
                f", payload {sql.blob}, payload_sha256 TEXT, signing_key TEXT"
                ", path_kind TEXT, event_type TEXT)"
            )

    def put(self, delivery: QuarantinedDelivery) -> str:
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.table} (identity, {COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (identity) DO NOTHING",
                (
                    delivery.identity,
                    uuid.uuid4().hex,
                    delivery.received_at.isoformat(),
                    delivery.cause,
                    delivery.payload,
                    delivery.payload_sha256,
                    delivery.signing_key,
                    delivery.path_kind,
                    delivery.event_type,
                ),
            )
            row = c.execute(
                f"SELECT id FROM {self.table} WHERE identity = ?", (delivery.identity,)
            ).fetchone()
            return str(row["id"])

    def get(self, quarantine_id: str) -> QuarantinedDelivery | None:
        with self.sql.transaction(commit=False) as c:
            row = c.execute(
                f"SELECT {COLUMNS} FROM {self.table} WHERE id = ?", (quarantine_id,)
            ).fetchone()
        return None if row is None else _row_to_delivery(row)

    def count(self) -> int:
        with self.sql.transaction(commit=False) as c:
            return int(c.execute(f"SELECT COUNT(*) AS n FROM {self.table}").fetchone()["n"])
