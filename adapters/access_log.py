"""Who read what from the auditor API, and when: kept apart from the ledger's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.sql import Sql

TABLE = "ledger_access_log"


class AccessLog:
    """An append-only table of auditor reads, in the ledger's database."""

    def __init__(self, sql: Sql):
        self.sql = sql
        identity = "BIGSERIAL" if sql.postgres else "INTEGER"
        with sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {sql.table(TABLE)} (id {identity} PRIMARY KEY,"
                " at TEXT NOT NULL, key_id TEXT NOT NULL, role TEXT NOT NULL, what TEXT NOT NULL)"
            )

    def record(self, at: datetime, key_id: str, role: str, what: str) -> None:
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.sql.table(TABLE)} (at, key_id, role, what) VALUES (?, ?, ?, ?)",
                (
                    at.isoformat().replace("+00:00", "Z"),
                    key_id,
                    role,
                    what[:500].replace("\x00", "\\0"),
                ),
            )

    def entries(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """The newest reads first, with ids below ``before`` when given."""
        where = "WHERE id < ?" if before is not None else ""
        params: list[Any] = [before] if before is not None else []
        with self.sql.transaction(commit=False) as c:
            rows = c.execute(
                f"SELECT id, at, key_id, role, what FROM {self.sql.table(TABLE)} {where}"
                " ORDER BY id DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [
            {"id": int(r["id"]), "at": r["at"], "keyId": r["key_id"], "role": r["role"],
             "what": r["what"]}
            for r in rows
        ]  # fmt: skip
