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
from psycopg.rows import dict_row, tuple_row

Datastore = SQLiteDatastore | PostgresDatastore
MAX_POSITION = 2**62
"""The largest ledger position a query may name: both stores keep positions as 64-bit
integers, so anything past this is refused before it reaches one."""
# From this many rows, an upsert on PostgreSQL copies them in (see ``Cursor.upsert``).
COPY_FROM_ROWS = 100


def quoted(name: str, schema: str = "") -> str:
    """A table name as statements spell it, in ``schema`` when given (PostgreSQL)."""
    return f'"{schema}"."{name}"' if schema else f'"{name}"'


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
            return quoted(name, self.datastore.schema)
        return quoted(name)

    def statement(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def null_safe_differs(self, left: str, right: str) -> str:
        return f"{left} IS DISTINCT FROM {right}" if self.postgres else f"{left} IS NOT {right}"

    @contextmanager
    def reading(self, *, by_position: bool = False) -> Iterator[Cursor]:
        """A cursor for statements that each read on their own: on PostgreSQL each runs
        in autocommit, one round trip, where a transaction adds a BEGIN and a ROLLBACK;
        on SQLite it is a transaction as usual.

        With ``by_position`` rows are only indexed by column number, which saves
        building a dict per row on PostgreSQL.
        """
        if isinstance(self.datastore, PostgresDatastore):
            with self.datastore.get_connection() as connection:
                factory: Any = tuple_row if by_position else dict_row
                yield Cursor(self, connection.cursor(row_factory=factory))
        else:
            with self.datastore.transaction(commit=False) as cursor:
                yield Cursor(self, cursor)

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield Cursor(self, cursor)


class Cursor:
    """A cursor taking ``?`` statements, returning rows indexable by column name."""

    def __init__(self, sql: Sql, cursor: Any):
        self.sql = sql
        self.cursor = cursor

    def column_names(self) -> list[str]:
        """The names of the last statement's result columns."""
        inner = getattr(self.cursor, "sqlite_cursor", self.cursor)  # the library wraps SQLite's
        return [str(column[0]) for column in inner.description or ()]

    def execute(self, text: str, params: Sequence[Any] = (), *, binary: bool = False) -> Cursor:
        """Run ``text``; ``binary`` asks PostgreSQL for its results in binary, which
        spares escaping and unescaping large ``BYTEA`` values."""
        if binary and self.sql.postgres:
            self.cursor.execute(self.sql.statement(text), tuple(params), binary=True)
        else:
            self.cursor.execute(self.sql.statement(text), tuple(params))
        return self

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql.statement(text), [tuple(r) for r in rows])

    def upsert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], key: str
    ) -> None:
        """Insert ``rows`` into ``table`` (named as ``Sql.table`` spells it), replacing
        the rows whose ``key`` they repeat.

        On PostgreSQL many rows go through ``COPY`` into a temporary table of this
        session, then one ``INSERT ... SELECT``: thousands of single-row statements
        cost several times as much there.
        """
        names = ", ".join(columns)
        updates = ", ".join(f"{n} = excluded.{n}" for n in columns if n != key)
        conflict = f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        if not (self.sql.postgres and len(rows) >= COPY_FROM_ROWS):
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows)
            return
        staging = '"' + table.rsplit(".", 1)[-1].strip('"') + '_staging"'
        self.cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging}"
            f" (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with self.cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        self.cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} {conflict}"
        )

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self.cursor.fetchall())
