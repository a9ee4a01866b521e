"""Deliveries the ledger could not record as events, kept whole with their cause.

Two kinds are kept, in the ledger's database but outside the ledger:

- authentic but unusable deliveries (answered 202): they were acknowledged, so they
  are never dropped; when their bound is reached, new ones are refused (503) and the
  sender retries later;
- deliveries with a missing or wrong signature (answered 401): anyone can send those,
  so they are kept within a count and a size bound, and what goes first is fair
  (ADR 25): deliveries that do not look like iDenfy's before those that do, and among
  those the oldest of the address that holds the most. A delivery signed with a key
  added later is found when the service starts with that key, and kept as authentic.

The same delivery quarantined twice is kept once. Payloads are encrypted at rest
when the ledger has an encryption key.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError

from adapters.data_keys import DataKeys, write_sealing
from adapters.payload_subjects import subject_of
from adapters.sql import Sql

TABLE = "ledger_quarantine"
COLUMNS = (
    "id, received_at, cause, payload, payload_sha256, signing_key, path_kind, event_type,"
    " signature, size, reprocessed_at, outcome, source, plausible"
)
ADDED_COLUMNS = (("source", "TEXT"), ("plausible", "INTEGER"))
LATER_KEY = "; signed with a key added later"


@dataclass(frozen=True)
class Bounds:
    """How much the quarantine keeps."""

    authentic_count: int = 10_000
    authentic_bytes: int = 512 * 1024 * 1024
    unsigned_count: int = 1_000
    unsigned_bytes: int = 32 * 1024 * 1024


class QuarantineFullError(Exception):
    """The quarantine holds as many authentic deliveries as it may; nothing was kept."""


@dataclass(frozen=True)
class QuarantinedDelivery:
    """One delivery that is not (yet) an event, with what is needed to reprocess it."""

    received_at: datetime
    cause: str
    payload: bytes | None
    """None once erased (its subject's data keys destroyed)."""
    payload_sha256: str
    signing_key: str | None
    path_kind: str | None
    event_type: str | None
    signature: str | None = None
    id: str = ""
    reprocessed_at: str | None = None
    outcome: str | None = None
    source: str | None = None
    """The address it came from (the client's, or a trusted proxy's forwarded one)."""
    plausible: bool = False
    """Unsigned, but shaped like iDenfy's: a 64-hex-digit signature and a scanRef."""

    @property
    def authentic(self) -> bool:
        return self.signing_key is not None

    @property
    def identity(self) -> str:
        """Same receiver path, same event-type header, same bytes: the same delivery."""
        parts = f"{self.path_kind or ''}\x00{self.event_type or ''}\x00{self.payload_sha256}"
        return hashlib.sha256(parts.encode("utf-8", "surrogateescape")).hexdigest()


class Quarantine(Protocol):
    """Where unusable and unsigned deliveries are kept."""

    def put(self, delivery: QuarantinedDelivery) -> str: ...

    def get(self, quarantine_id: str) -> QuarantinedDelivery | None: ...

    def count(self) -> int: ...

    def counts(self) -> tuple[int, int]: ...

    def entries(self, limit: int) -> list[QuarantinedDelivery]: ...

    def mark(self, quarantine_id: str, at: datetime, outcome: str) -> None: ...


class SqlQuarantine:
    """The quarantine table in the ledger's own database (SQLite or PostgreSQL)."""

    def __init__(self, sql: Sql, bounds: Bounds | None = None, keys: DataKeys | None = None):
        self.sql = sql
        self.bounds = bounds or Bounds()
        self.keys = keys or DataKeys(sql, None)
        self.table = sql.table(TABLE)
        with sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (id TEXT PRIMARY KEY,"
                " identity TEXT UNIQUE, received_at TEXT, cause TEXT,"
                f" payload {sql.blob}, payload_sha256 TEXT, signing_key TEXT, path_kind TEXT,"
                " event_type TEXT, signature TEXT, size INTEGER, authentic INTEGER,"
                " reprocessed_at TEXT, outcome TEXT)"
            )
            c.execute(
                f'CREATE INDEX IF NOT EXISTS "{TABLE}_by_kind"'
                f" ON {self.table} (authentic, received_at)"
            )
        self._add_columns()

    def _add_columns(self) -> None:
        """Columns a table made by an earlier version lacks."""
        with self.sql.transaction(commit=False) as c:
            have = {
                name.lower()
                for name in c.execute(f"SELECT * FROM {self.table} LIMIT 0").column_names()
            }
        for name, kind in ADDED_COLUMNS:
            if name not in have:
                with self.sql.transaction(commit=True) as c:
                    c.execute(f"ALTER TABLE {self.table} ADD COLUMN {name} {kind}")

    def put(self, delivery: QuarantinedDelivery) -> str:
        """Keep ``delivery``; the id of the kept copy (an earlier one if it was known)."""
        try:
            return self._put(delivery)
        except IntegrityError:
            # The same delivery was kept by a concurrent request a moment ago.
            with self.sql.transaction(commit=False) as c:
                row = c.execute(
                    f"SELECT id FROM {self.table} WHERE identity = ?", (delivery.identity,)
                ).fetchone()
            if row is None:
                raise
            return str(row["id"])

    def _put(self, delivery: QuarantinedDelivery) -> str:
        assert delivery.payload is not None, "a delivery to keep has its payload"
        subject, client = subject_of(delivery.payload, delivery.identity)
        sealing = self.keys.sealing({subject: client})
        payload = sealing.seal(subject, delivery.payload)
        with self.sql.transaction(commit=True) as c:
            known = c.execute(
                f"SELECT id FROM {self.table} WHERE identity = ?", (delivery.identity,)
            ).fetchone()
            if known is not None:
                return str(known["id"])
            write_sealing(c.cursor, self.keys.table, sealing, self.sql.postgres)
            count, size = self._usage(c, delivery.authentic)
            if delivery.authentic and (
                count >= self.bounds.authentic_count
                or size + len(payload) > self.bounds.authentic_bytes
            ):
                raise QuarantineFullError("the quarantine is full; reprocess or remove some")
            new_id = uuid.uuid4().hex
            c.execute(
                f"INSERT INTO {self.table} (identity, authentic, {COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery.identity, int(delivery.authentic), new_id,
                    delivery.received_at.isoformat(), delivery.cause, payload,
                    delivery.payload_sha256, delivery.signing_key, delivery.path_kind,
                    delivery.event_type, delivery.signature, len(delivery.payload), None, None,
                    delivery.source, int(delivery.plausible),
                ),
            )  # fmt: skip
            if not delivery.authentic:
                self._trim_unsigned(c)
            return new_id

    def _usage(self, c: Any, authentic: bool) -> tuple[int, int]:
        row = c.execute(
            f"SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM {self.table}"
            " WHERE authentic = ?",
            (int(authentic),),
        ).fetchone()
        return int(row["n"]), int(row["bytes"])

    def _trim_unsigned(self, c: Any) -> None:
        """Drop unsigned deliveries beyond the bounds, fairly: those unlike iDenfy's
        first, and among the alike, the oldest of the address holding the most."""
        count, size = self._usage(c, False)
        while count > self.bounds.unsigned_count or size > self.bounds.unsigned_bytes:
            victim = c.execute(
                f"SELECT id, size FROM {self.table} AS q WHERE authentic = 0"
                " ORDER BY COALESCE(plausible, 0),"
                f" (SELECT COUNT(*) FROM {self.table} AS same WHERE same.authentic = 0"
                "  AND COALESCE(same.plausible, 0) = COALESCE(q.plausible, 0)"
                "  AND COALESCE(same.source, '') = COALESCE(q.source, '')) DESC,"
                " received_at, id LIMIT 1"
            ).fetchone()
            c.execute(f"DELETE FROM {self.table} WHERE id = ?", (victim["id"],))
            count, size = count - 1, size - int(victim["size"])

    def adopt(self, matching_key: Callable[[bytes, str | None], str | None]) -> int:
        """Keep as authentic every unsigned delivery a key now configured signed (a key
        added since it came); how many. ``matching_key`` is the signature check."""
        with self.sql.transaction(commit=False) as c:
            rows = c.execute(
                f"SELECT id, payload, signature, cause FROM {self.table} WHERE authentic = 0"
            ).fetchall()
        adopted = 0
        bodies = self.keys.open_all([_bytes(row["payload"]) for row in rows])
        for row, body in zip(rows, bodies, strict=True):
            key = None if body is None else matching_key(body, row["signature"])
            if key is None:
                continue
            with self.sql.transaction(commit=True) as c:
                c.execute(
                    f"UPDATE {self.table} SET authentic = 1, signing_key = ?, cause = ?"
                    " WHERE id = ? AND authentic = 0",
                    (key, f"{row['cause']}{LATER_KEY}"[:500], row["id"]),
                )
            adopted += 1
        return adopted

    def get(self, quarantine_id: str) -> QuarantinedDelivery | None:
        with self.sql.transaction(commit=False) as c:
            row = c.execute(
                f"SELECT {COLUMNS} FROM {self.table} WHERE id = ?", (quarantine_id,)
            ).fetchone()
        return None if row is None else self._delivery(row)

    def entries(self, limit: int) -> list[QuarantinedDelivery]:
        """The newest first."""
        with self.sql.transaction(commit=False) as c:
            rows = c.execute(
                f"SELECT {COLUMNS} FROM {self.table} ORDER BY received_at DESC, id LIMIT ?",
                (limit,),
            ).fetchall()
        return [self._delivery(row) for row in rows]

    def count(self) -> int:
        with self.sql.transaction(commit=False) as c:
            return int(c.execute(f"SELECT COUNT(*) AS n FROM {self.table}").fetchone()["n"])

    def counts(self) -> tuple[int, int]:
        """(signed, unsigned) deliveries kept."""
        with self.sql.transaction(commit=False) as c:
            return self._usage(c, True)[0], self._usage(c, False)[0]

    def mark(self, quarantine_id: str, at: datetime, outcome: str) -> None:
        """Note that the delivery was reprocessed, and what came of it."""
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"UPDATE {self.table} SET reprocessed_at = ?, outcome = ? WHERE id = ?",
                (at.isoformat(), outcome[:500], quarantine_id),
            )

    def _delivery(self, row: Any) -> QuarantinedDelivery:
        (payload,) = self.keys.open_all([_bytes(row["payload"])])
        return QuarantinedDelivery(
            id=row["id"],
            received_at=datetime.fromisoformat(row["received_at"]),
            cause=row["cause"],
            payload=payload,
            payload_sha256=row["payload_sha256"],
            signing_key=row["signing_key"],
            path_kind=row["path_kind"],
            event_type=row["event_type"],
            signature=row["signature"],
            reprocessed_at=row["reprocessed_at"],
            outcome=row["outcome"],
            source=row["source"],
            plausible=bool(row["plausible"]),
        )


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)
