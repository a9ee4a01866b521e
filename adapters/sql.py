"""One way to run SQL on either store, over the eventsourcing library's datastores.

Statements are written once with ``?`` placeholders; the PostgreSQL dialect turns
them into psycopg's ``%s`` and qualifies table names with the configured schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTransaction
from psycopg.rows import dict_row, tuple_row

Datastore = SQLiteDatastore | PostgresDatastore
MAX_POSITION = 2**62
"""The largest ledger position a query may name: both stores keep positions as 64-bit
integers, so anything past this is refused before it reaches one."""
# Values in one SQLite ``IN (...)`` at most (see ``Sql.among``).
IN_CHUNK = 500
# From this many rows, an upsert on PostgreSQL copies them in (see ``Cursor.upsert``).
COPY_FROM_ROWS = 100
# The array types of the columns' SQL types, for ``Cursor.insert`` on PostgreSQL.
PG_TYPES = {
    "TEXT": "text",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "BLOB": "bytea",
    "BYTEA": "bytea",
}


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

    def among(self, column: str, values: list[Any]) -> list[tuple[str, list[Any]]]:
        """Conditions that ``column`` is one of ``values``, each with its parameters: on
        PostgreSQL one (``= ANY``, the same statement whatever the number, so prepared
        once); on SQLite one per ``IN_CHUNK`` values; none for no values."""
        if self.postgres and values:
            return [(f"{column} = ANY(?)", [values])]
        return [
            (f"{column} IN ({', '.join('?' * len(chunk))})", chunk)
            for chunk in (values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK))
        ]

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
        """A transaction; one that commits on SQLite takes the file's write lock as it
        begins (``BEGIN IMMEDIATE``), waiting for another writer as long as the store's
        lock timeout allows. The library's ``BEGIN`` takes it at the first write, and a
        transaction that read first is then refused at once (SQLITE_BUSY) if another
        connection committed after its read: a quarantined delivery answered 503 while the
        tree's follower appended to the same file."""
        if commit and isinstance(self.datastore, SQLiteDatastore):
            with (
                self.datastore.get_connection(commit=True) as connection,
                _Immediate(connection, commit=True) as immediate,
                immediate,
            ):
                yield Cursor(self, immediate)
            return
        with self.datastore.transaction(commit=commit) as cursor:
            yield Cursor(self, cursor)

    @contextmanager
    def pipelined_transaction(self) -> Iterator[Cursor]:
        """A transaction that commits; on PostgreSQL its statements go out together
        (psycopg's pipeline mode), ``BEGIN`` and ``COMMIT`` with them, and the
        connection waits only when a result is read: a batch of the live workers
        makes two round trips, not one a statement (see ``Cursor.sent``).

        ``BEGIN`` and ``COMMIT`` are sent as statements: psycopg's own transaction
        block waits for the server at its start and at its end in a pipeline.
        """
        if not isinstance(self.datastore, PostgresDatastore):
            with self.transaction(commit=True) as cursor:
                yield cursor
            return
        with self.datastore.get_connection() as connection:
            inner = connection.cursor()
            try:
                with connection.pipeline():
                    inner.execute("BEGIN")
                    yield Cursor(self, inner, pipelined=True)
                    inner.execute("COMMIT")
            except BaseException:
                with suppress(Exception):
                    connection.rollback()
                raise


class _Immediate(SQLiteTransaction):
    """The library's SQLite transaction, begun with the write lock taken."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # still locked when the timeout ran out
            cursor.sqlite_cursor.close()
            raise OperationalError(error) from error
        return cursor


class Cursor:
    """A cursor taking ``?`` statements, returning rows indexable by column name."""

    def __init__(self, sql: Sql, cursor: Any, *, pipelined: bool = False):
        self.sql = sql
        self.cursor = cursor
        self.pipelined = pipelined

    def sent(self, text: str, params: Sequence[Any] = ()) -> Callable[[], list[Any]]:
        """Run ``text`` on a cursor of its own and give what fetches its rows: in a
        pipeline several such statements go out before the first result is awaited
        (on SQLite the rows are fetched at once)."""
        if not self.sql.postgres:
            rows = self.execute(text, params).fetchall()
            return lambda: rows
        other = Cursor(self.sql, self.cursor.connection.cursor())
        return other.execute(text, params).fetchall

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

    def insert(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        conflict: str = "",
    ) -> None:
        """Insert ``rows`` into ``table``; ``columns`` are (name, SQL type) pairs in the
        rows' order, ``conflict`` an ``ON CONFLICT`` clause or nothing.

        On PostgreSQL the rows go as one array a column, in binary, to one
        ``INSERT ... SELECT FROM unnest(...)``: one statement for the batch, where a
        statement a row costs the server and psycopg several times as much.
        """
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        if not self.sql.postgres:
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows)
            return
        arrays = ", ".join(f"%b::{PG_TYPES[kind]}[]" for _, kind in columns)
        self.cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {conflict}",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def upsert(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        key: str,
    ) -> None:
        """Insert ``rows`` into ``table`` (named as ``Sql.table`` spells it), replacing
        the rows whose ``key`` they repeat; ``columns`` as ``insert`` takes them.

        On PostgreSQL many rows go through ``COPY`` into a temporary table of this
        session, then one ``INSERT ... SELECT``; fewer go as arrays (``insert``).
        """
        names = ", ".join(name for name, _ in columns)
        updates = ", ".join(f"{n} = excluded.{n}" for n, _ in columns if n != key)
        conflict = f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        # COPY cannot run in a pipeline.
        if not (self.sql.postgres and len(rows) >= COPY_FROM_ROWS) or self.pipelined:
            self.insert(table, columns, rows, conflict)
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
