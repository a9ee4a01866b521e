"""A client's retention record: when its relationship was ended, its legal holds, and its
erasure (ADR 31), in the ledger's own database beside its data keys.

``ledger_clients`` has a row for a client once the relationship is ended by hand or the
client is erased; ``ledger_holds`` every hold ever placed, lifted ones with when and by
whom. Erasing destroys the client's data keys and records the erasure in one
transaction (``destroy_client_keys``): a client is erased or not, never half.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import IntegrityError

from adapters.data_keys import TABLE as KEYS
from adapters.data_keys import is_sealed, key_id_of
from adapters.payload_subjects import name_from_stored, quarantine_subject, stored_name
from adapters.quarantine import TABLE as QUARANTINE
from adapters.sql import Sql

CLIENTS, HOLDS = "ledger_clients", "ledger_holds"


@dataclass(frozen=True)
class Hold:
    id: str
    reason: str
    placed_at: str
    placed_by: str

    def document(self) -> dict[str, str]:
        return {
            "id": self.id,
            "reason": self.reason,
            "placedAt": self.placed_at,
            "placedBy": self.placed_by,
        }


@dataclass(frozen=True)
class ClientRecord:
    ended_at: str | None = None
    erased_at: str | None = None
    erased_by: str | None = None
    reason: str | None = None


class RetentionStore:
    """Ends, holds and erasures of clients."""

    def __init__(self, sql: Sql):
        self.sql = sql
        self.clients, self.holds_table = sql.table(CLIENTS), sql.table(HOLDS)
        self.keys = sql.table(KEYS)
        with contextlib.suppress(IntegrityError), sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.clients} (client_id TEXT PRIMARY KEY,"
                " ended_at TEXT, erased_at TEXT, erased_by TEXT, reason TEXT)"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.holds_table} (id TEXT PRIMARY KEY,"
                " client_id TEXT NOT NULL, reason TEXT NOT NULL, placed_at TEXT NOT NULL,"
                " placed_by TEXT NOT NULL, lifted_at TEXT, lifted_by TEXT)"
            )
            c.execute(
                f'CREATE INDEX IF NOT EXISTS "{HOLDS}_client" ON {self.holds_table} (client_id)'
            )

    def record(self, client_id: str) -> ClientRecord:
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT ended_at, erased_at, erased_by, reason FROM {self.clients}"
                " WHERE client_id = ?",
                (stored_name(client_id),),
            ).fetchone()
        if row is None:
            return ClientRecord()
        return ClientRecord(row["ended_at"], row["erased_at"], row["erased_by"], row["reason"])

    def end(self, client_id: str, at: datetime) -> None:
        """End the relationship now, unless it was ended earlier."""
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.clients} (client_id, ended_at) VALUES (?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET ended_at ="
                f" COALESCE({self.clients}.ended_at, excluded.ended_at)",
                (stored_name(client_id), at.isoformat()),
            )

    def holds(self, client_id: str) -> list[Hold]:
        """The holds in force, oldest first."""
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT id, reason, placed_at, placed_by FROM {self.holds_table}"
                " WHERE client_id = ? AND lifted_at IS NULL ORDER BY placed_at, id",
                (stored_name(client_id),),
            ).fetchall()
        return [Hold(r["id"], r["reason"], r["placed_at"], r["placed_by"]) for r in rows]

    def place_hold(self, client_id: str, reason: str, by: str, at: datetime) -> Hold:
        hold = Hold(uuid.uuid4().hex, reason, at.isoformat(), by)
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.holds_table} (id, client_id, reason, placed_at, placed_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (hold.id, stored_name(client_id), reason, hold.placed_at, by),
            )
        return hold

    def lift_hold(self, client_id: str, hold_id: str, by: str, at: datetime) -> bool:
        """Lift a hold in force; False when the client has no such hold."""
        where = " WHERE id = ? AND client_id = ? AND lifted_at IS NULL"
        params = (hold_id, stored_name(client_id))
        with self.sql.transaction(commit=True) as c:
            if c.execute(f"SELECT id FROM {self.holds_table}" + where, params).fetchone() is None:
                return False
            c.execute(
                f"UPDATE {self.holds_table} SET lifted_at = ?, lifted_by = ?" + where,
                (at.isoformat(), by, *params),
            )
            return True

    def known_clients(self) -> list[str]:
        """Every client with live data keys (as the keys table names them)."""
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT DISTINCT client_id FROM {self.keys}"
                " WHERE client_id IS NOT NULL AND wrapped IS NOT NULL ORDER BY client_id"
            ).fetchall()
        return [name_from_stored(str(row["client_id"])) for row in rows]

    def has_live_keys(self, client_id: str) -> bool:
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT 1 AS live FROM {self.keys} WHERE client_id = ? AND wrapped IS NOT NULL"
                " LIMIT 1",
                (stored_name(client_id),),
            ).fetchone()
        return row is not None

    def refs_of(self, client_id: str) -> list[str]:
        """The verifications whose own keys belong to the client (payloads sealed before
        its client was known)."""
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT subject FROM {self.keys} WHERE client_id = ? AND subject LIKE ?",
                (stored_name(client_id), "ref:%"),
            ).fetchall()
        return [name_from_stored(str(row["subject"])[4:]) for row in rows]

    def destroy_client_keys(
        self, client_id: str, at: datetime, by: str, reason: str, events_table: str = ""
    ) -> list[str]:
        """Destroy every data key of the client and record its erasure, in one
        transaction; the ids of the keys destroyed (none when already erased). On
        PostgreSQL it holds ``events_table``'s lock, as writes of events do, so that none
        seals a payload under a key being destroyed."""
        name, when = stored_name(client_id), at.isoformat()
        marker = f"{when} {uuid.uuid4().hex}"  # this run's, to find what it destroyed
        with self.sql.transaction(commit=True) as c:  # writes first (see the recorder)
            if self.sql.postgres and events_table:
                c.execute(f"LOCK TABLE {self.sql.table(events_table)} IN EXCLUSIVE MODE")
            c.execute(
                f"UPDATE {self.keys} SET wrapped = NULL, erased_at = ?, erasure = ?"
                " WHERE client_id = ? AND wrapped IS NOT NULL",
                (marker, reason, name),
            )
            rows = c.execute(
                f"SELECT key_id FROM {self.keys} WHERE client_id = ? AND erased_at = ?",
                (name, marker),
            ).fetchall()
            destroyed = sorted(str(row["key_id"]) for row in rows)
            c.execute(f"UPDATE {self.keys} SET erased_at = ? WHERE erased_at = ?", (when, marker))
            c.execute(
                f"INSERT INTO {self.clients} (client_id, erased_at, erased_by, reason)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET"
                " erased_at = excluded.erased_at, erased_by = excluded.erased_by,"
                " reason = excluded.reason",
                (name, when, by, reason),
            )
        return destroyed

    def newest_key_at(self, client_id: str) -> str | None:
        """When the client's newest data key was made (None: it has none)."""
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT MAX(created_at) AS at FROM {self.keys} WHERE client_id = ?",
                (stored_name(client_id),),
            ).fetchone()
        return None if row is None or row["at"] is None else str(row["at"])

    def erased_key_ids(self, client_id: str) -> list[str]:
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT key_id FROM {self.keys} WHERE client_id = ? AND wrapped IS NULL",
                (stored_name(client_id),),
            ).fetchall()
        return sorted(str(row["key_id"]) for row in rows)


def drop_quarantined_payloads(sql: Sql, key_ids: set[str]) -> int:
    """Empty the quarantined payloads sealed under ``key_ids`` (destroyed keys); how many."""
    table = sql.table(QUARANTINE)
    with sql.reading() as c:
        rows = c.execute(f"SELECT id, payload FROM {table} WHERE payload IS NOT NULL").fetchall()
    gone = [
        (row["id"],)
        for row in rows
        if is_sealed(payload := bytes(row["payload"])) and key_id_of(payload) in key_ids
    ]
    if gone:
        with sql.transaction(commit=True) as c:
            c.cursor.executemany(
                sql.statement(f"UPDATE {table} SET payload = NULL WHERE id = ?"), gone
            )
    return len(gone)


def drop_old_quarantine(sql: Sql, before: datetime) -> int:
    """Delete the quarantined copies received before ``before``, destroying the keys of
    those that had a key of their own (naming no client nor verification); how many."""
    table = sql.table(QUARANTINE)
    when = before.isoformat()
    with sql.transaction(commit=True) as c:
        rows = c.execute(
            f"SELECT id, identity FROM {table} WHERE received_at < ?", (when,)
        ).fetchall()
        for row in rows:
            c.execute(
                f"UPDATE {sql.table(KEYS)} SET wrapped = NULL, erased_at = ?, erasure = ?"
                " WHERE subject = ? AND wrapped IS NOT NULL",
                (when, "quarantine retention", quarantine_subject(str(row["identity"]))),
            )
        c.execute(f"DELETE FROM {table} WHERE received_at < ?", (when,))
    return len(rows)
