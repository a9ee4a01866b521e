"""The library's recorders, with every connection committing durably.

A webhook is acknowledged only after its event is committed, so the commit must
survive a power cut: SQLite runs with ``synchronous=FULL`` and PostgreSQL sessions
with ``synchronous_commit=on``, set on each connection rather than trusted to the
server or build defaults.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier

from adapters import sealed_insert
from adapters.data_keys import TABLE as KEYS_TABLE
from adapters.data_keys import current_sealing, write_sealing
from adapters.persistence import (
    POSTGRES_CONNECT_TIMEOUT_SECONDS,
    SQLITE_LOCK_TIMEOUT_SECONDS,
    SQLiteLocation,
    StoreLocation,
)
from adapters.pg_datastore import PreparedKeepingDatastore, keep_prepared
from adapters.private_files import private_database
from adapters.sql import quoted
from adapters.subscription import AnnouncingSQLiteApplicationRecorder
from adapters.wakeups import COMMITTED

POSTGRES_SESSION_OPTIONS = "-c synchronous_commit=on"
LZ4_SINCE = 140000
"""The first PostgreSQL (``server_version_num``) with a column compression to choose."""


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """SQLite connections in WAL mode that sync the log on every commit."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection.cursor().execute("PRAGMA synchronous=FULL")
        # What is deleted (an erased data key) is overwritten, not left in free pages.
        connection.cursor().execute("PRAGMA secure_delete=ON")
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """The library's SQLite persistence, on a durable connection pool, announcing commits."""

    application_recorder_class = AnnouncingSQLiteApplicationRecorder

    def __init__(self, env: Environment | dict[str, str] | None):
        super().__init__(env)
        default_pool = self.datastore.pool
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=default_pool.db_name, lock_timeout=default_pool.lock_timeout
        )
        default_pool.close()


class FailFastPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The library's recorder, without its ten retries when the server is unreachable,
    and with its insert in one statement.

    A webhook sender waits about ten seconds for an answer; a quick 503 lets it retry
    later, where retrying here would keep it waiting until it gives up.

    The library's insert takes two round trips in a pipeline: ``BEGIN``, the table lock,
    ``NOTIFY`` and the ``INSERT`` of one array of a composite type (which psycopg
    formats as text in Python, escaping every byte of every payload); then ``COMMIT``.
    Here a function of the store's own does the same lock, notify and insert, of four
    arrays of plain types sent in binary, and one autocommitted ``SELECT`` of it is the
    whole transaction: one round trip, and no pipeline to drive. The table lock (which
    makes commit order equal notification order) is the library's, held to the commit
    as before. A store whose function is missing (its tables were made by an earlier
    version and nothing has set them up since) gets the library's insert.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any):
        super().__init__(datastore, **kwargs)
        schema, table = Identifier(datastore.schema), Identifier(self.events_table_name)
        function = Identifier(f"{self.events_table_name}_insert")
        self.create_insert_function_statement = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}"
            "(ids uuid[], versions bigint[], topics text[], states bytea[])"
            " RETURNS SETOF bigint LANGUAGE plpgsql AS $body$"
            " BEGIN"
            " SET LOCAL lock_timeout = '{lock_timeout}s';"
            " LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;" + sealed_insert.NOTIFY_AND_INSERT
        ).format(
            schema=schema,
            function=function,
            table=table,
            channel=Identifier(self.channel_name),
            lock_timeout=datastore.lock_timeout,
        )
        self.lz4_statement = SQL(
            "ALTER TABLE {schema}.{table} ALTER COLUMN state SET COMPRESSION lz4"
        ).format(schema=schema, table=table)
        self.insert_function_statement = SQL(
            "SELECT notification_id FROM {schema}.{function}"
            "(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) AS notification_id"
        ).format(schema=schema, function=function)
        self.has_insert_function = True
        self.keys_table = quoted(KEYS_TABLE, datastore.schema)
        names = (datastore.schema, self.events_table_name)
        self.create_sealed_statement = sealed_insert.create_statement(
            *names, KEYS_TABLE, self.channel_name, datastore.lock_timeout
        )
        self.sealed_statement = sealed_insert.call_statement(*names)

    def _create_table(self, curs: Any) -> None:
        super()._create_table(curs)
        self._compress_states_with_lz4(curs)
        curs.execute(self.create_insert_function_statement)
        curs.execute(self.create_sealed_statement)

    def _compress_states_with_lz4(self, curs: Any) -> None:
        """Compress new events' states with lz4 rather than PostgreSQL's default pglz.

        States of a few kilobytes are compressed as they are stored; pglz took a quarter
        of the server's time per event, lz4 much less, for a similar size. Events
        stored before keep their compression, and both read alike. A server built
        without lz4, or older than PostgreSQL 14 (which brought lz4), keeps pglz.
        """
        if curs.connection.info.server_version < LZ4_SINCE:
            return
        found = curs.execute(
            "SELECT a.attcompression FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND a.attname = 'state'",
            (self.datastore.schema, self.events_table_name),
        ).fetchone()
        if found is None or found["attcompression"] == "l":
            return
        with contextlib.suppress(psycopg.errors.FeatureNotSupported), curs.connection.transaction():
            curs.execute(self.lz4_statement)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        try:
            return self._insert(stored_events, **kwargs)
        finally:
            COMMITTED.announce()

    def _insert(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if not stored_events:
            return []
        if self.has_insert_function:
            arrays = (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            )
            sealing = current_sealing()
            try:
                with self.datastore.get_connection() as conn, conn.cursor() as curs:
                    assert conn.autocommit, "the statement must be its own transaction"
                    if sealing is None:
                        curs.execute(self.insert_function_statement, arrays, prepare=True)
                    else:
                        sealed = sealed_insert.arguments(stored_events, sealing)
                        curs.execute(self.sealed_statement, sealed, prepare=True)
                    return [row["notification_id"] for row in curs.fetchall()]
            except IntegrityError as error:
                raise sealed_insert.refused(error) from error
            except ProgrammingError as error:
                if not isinstance(error.__cause__, psycopg.errors.UndefinedFunction):
                    raise
                self.has_insert_function = False
        return _single_attempt(PostgresApplicationRecorder.insert_events)(
            self, stored_events, **kwargs
        )

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        sealing = current_sealing()  # in the library's insert (no function of our own)
        if sealing is not None:
            write_sealing(curs, self.keys_table, sealing, postgres=True)
        return super()._insert_events(curs, stored_events, **kwargs)

    def select_events(self, originator_id: Any, **kwargs: Any) -> Any:
        return _single_attempt(PostgresApplicationRecorder.select_events)(
            self, originator_id, **kwargs
        )

    def max_notification_id(self) -> int | None:
        result = _single_attempt(PostgresApplicationRecorder.max_notification_id)(self)
        return None if result is None else int(result)


def _single_attempt(method: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(method, "__wrapped__", method)


class DurablePostgresFactory(PostgresFactory):
    """The library's PostgreSQL persistence, with synchronous commits per session."""

    application_recorder_class = FailFastPostgresApplicationRecorder

    def __init__(self, env: Environment | dict[str, str] | None):
        super().__init__(env)
        keep_prepared(self.datastore)
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs["options"] = POSTGRES_SESSION_OPTIONS


# Pages of the views' SQLite file, when it is created (see _create_with_large_pages).
VIEWS_PAGE_SIZE = 16_384


class ViewsSQLiteConnectionPool(SQLiteConnectionPool):
    """Connections to the views file: WAL with NORMAL sync.

    Views can be rebuilt from the ledger at any time, and each view transaction
    writes its rows with its tracking record, so a power cut can only lose the
    newest view transactions, never make them inconsistent.
    """

    def _create_connection(self) -> SQLiteConnection:
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            _create_with_large_pages(self.db_name)
        connection = super()._create_connection()
        connection.cursor().execute("PRAGMA synchronous=NORMAL")
        return connection


def _create_with_large_pages(db_name: str) -> None:
    """Give a new views file pages of ``VIEWS_PAGE_SIZE`` bytes (an existing one keeps its own).

    A row of a view is one to two kilobytes (its facts, the status document), so
    SQLite's default 4 KB pages hold two and leave a third of each page empty; a
    replay writes every page twice (to the log, then to the file).
    """
    try:
        connection = sqlite3.connect(db_name, uri=True, isolation_level=None)
    except sqlite3.Error:
        return  # the library's own connect reports it
    try:
        if connection.execute("PRAGMA page_count").fetchone()[0] == 0:
            connection.execute(f"PRAGMA page_size={VIEWS_PAGE_SIZE}")
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error:
        pass  # another process is creating it: its page size holds
    finally:
        connection.close()


def views_path(location: SQLiteLocation) -> Path:
    """The SQLite file of the views: ``ledger.sqlite3`` has ``ledger-views.sqlite3``."""
    path = location.path
    return path.with_name(f"{path.stem}-views{path.suffix}")


def views_datastore(location: StoreLocation) -> SQLiteDatastore | PostgresDatastore:
    """A connection pool for the projections' views of the ledger at ``location``."""
    if isinstance(location, SQLiteLocation):
        private_database(views_path(location))
        datastore = SQLiteDatastore(str(views_path(location)))
        default_pool = datastore.pool
        datastore.pool = ViewsSQLiteConnectionPool(
            db_name=default_pool.db_name, lock_timeout=SQLITE_LOCK_TIMEOUT_SECONDS
        )
        default_pool.close()
        return datastore
    postgres = PreparedKeepingDatastore.at(
        location,
        connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS,
        # Reads need no ping per checkout: a broken connection fails one read, then goes.
        pre_ping=False,
        pool_size=4,
        max_overflow=12,
        idle_in_transaction_session_timeout=5,
    )
    kwargs = postgres.pool.kwargs
    assert isinstance(kwargs, dict)
    kwargs["options"] = POSTGRES_SESSION_OPTIONS
    return postgres
