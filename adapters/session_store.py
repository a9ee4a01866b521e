"""The auditor UI's sessions that have not ended, in the ledger's database.

A session cookie is only good while its row is here: signing out deletes it, and so
does the start of a server whose configuration no longer holds the session's API key.
Every worker process of a deployment shares the table. Rows hold a digest of the
session id (never the id itself), the key id it was signed in with and its expiry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from adapters.sql import Sql

TABLE = "ledger_ui_sessions"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """The live sessions of the auditor UI."""

    def __init__(self, sql: Sql):
        self.sql = sql
        self.table = sql.table(TABLE)
        with sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (session TEXT PRIMARY KEY,"
                f" key_id TEXT NOT NULL, expires {sql.bigint} NOT NULL)"
            )

    def start(self, session_id: str, key_id: str, expires: int, now: int) -> None:
        """Record a new session; sessions that have expired by ``now`` are dropped."""
        with self.sql.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.table} WHERE expires <= ?", (now,))
            c.execute(
                f"INSERT INTO {self.table} (session, key_id, expires) VALUES (?, ?, ?)",
                (_digest(session_id), key_id, expires),
            )

    def live(self, session_id: str, key_id: str, now: int) -> bool:
        """Whether the session was started for ``key_id`` and has neither ended nor
        expired."""
        with self.sql.transaction(commit=False) as c:
            row = c.execute(
                f"SELECT 1 FROM {self.table} WHERE session = ? AND key_id = ? AND expires > ?",
                (_digest(session_id), key_id, now),
            ).fetchone()
        return row is not None

    def end(self, session_id: str) -> None:
        """End the session, in every process."""
        with self.sql.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.table} WHERE session = ?", (_digest(session_id),))

    def keep_only(self, key_ids: Iterable[str]) -> None:
        """End every session signed in with a key other than ``key_ids``."""
        kept = sorted(set(key_ids))
        marks = ", ".join("?" * len(kept))
        where = f"WHERE key_id NOT IN ({marks})" if kept else ""
        with self.sql.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.table} {where}", kept)
