"""One way to run SQL on either store, over the eventsourcing library's datastores.

Statements are written once with ``?`` placeholders; the PostgreSQL dialect turns
them into psycopg's ``%s`` and qualifies table names with the configured schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

Datastore = SQLiteDatastore | PostgresDatastore


class Sql:
    """A datastore with the dialect its statements need."""

    def __init__(self, datastore: Datastore):
        self.datastore = datastore
        self.postgres = isinstance(datastore, PostgresDatastore)
        self.blob = "BYTEA" if self.postgres else "BLOB"
        self.bigint = "BIGINT" if self.postgres else "INTEGER"

    def table(self, name: str) -> str:
        """A table name as statements must spell it."""
        if isinstance(self.datastore, PostgresDatastore):
            return f'"{self.datastore.schema}"."{name}"'
        return f'"{name}"'

    def statement(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def null_safe_differs(self, left: str, right: str) -> str:
        return f"{left} IS DISTINCT FROM {right}" if self.postgres else f"{left} IS NOT {right}"

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield Cursor(self, cursor)


class Cursor:
    """A cursor taking ``?`` statements, returning rows indexable by column name."""

    def __init__(self, sql: Sql, cursor: Any):
        self.sql = sql
        self.cursor = cursor

    def execute(self, text: str, params: Sequence[Any] = ()) -> Cursor:
        self.cursor.execute(self.sql.statement(text), tuple(params))
        return self

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql.statement(text), [tuple(r) for r in rows])

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self.cursor.fetchall())
