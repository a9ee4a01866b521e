"""Whether the ledger's database takes a commit now, as readiness asks.

Answering a query is not enough: a database may answer and still refuse to commit
(its disk full, a file or server turned read-only, a lock held by another program).
The probe commits one row of a table of its own, as durably as the ledger's events,
and says why when that fails. It never touches the events, the chains or the digest.
"""

from __future__ import annotations

from datetime import datetime

from adapters.sql import Sql

TABLE = "ledger_commit_probe"
# How long the probe waits for a lock on PostgreSQL (SQLite waits its busy timeout).
LOCK_TIMEOUT = "2s"


class CommitProbe:
    """One row in the ledger's database, rewritten on each probe."""

    def __init__(self, sql: Sql):
        self.sql = sql
        with sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {sql.table(TABLE)}"
                " (id INTEGER PRIMARY KEY, at TEXT NOT NULL)"
            )

    def check(self, at: datetime) -> str | None:
        """None when a commit went through; otherwise why it did not."""
        try:
            with self.sql.transaction(commit=True) as c:
                if self.sql.postgres:
                    c.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    c.execute(f"SET LOCAL statement_timeout = '{LOCK_TIMEOUT}'")
                c.execute(
                    f"INSERT INTO {self.sql.table(TABLE)} (id, at) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    (at.isoformat(),),
                )
        except Exception as error:
            first = (str(error).strip().splitlines() or [""])[0]
            return f"{type(error).__name__}: {first[:200]}"
        return None
