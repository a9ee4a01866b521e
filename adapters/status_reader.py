"""Status documents read straight from the active view table, without a thread hop.

A status read is one primary-key ``SELECT`` that takes tens of microseconds. Handing
it to a worker thread, and waking the event loop when it is done, costs more than the
read itself, and under concurrency the threads and the loop contend for the GIL. So:

- on SQLite the query runs on the event loop, over a connection of its own that only
  reads. In WAL mode readers do not wait for writers; a short busy timeout bounds the
  rare wait (WAL recovery), and the caller falls back to the threaded path on any error;
- on PostgreSQL it runs on psycopg's async pool, in autocommit: one round trip.

A read with ``minPosition`` first waits, on the loop too, until the view's tracking
record has reached the position (``adapters.position_waits``).

The document comes back as the JSON text stored in the view, ready to send. The query,
the table's name and the generation cache are those of the threaded read
(``adapters.status_query``); a read that finds its table gone looks the active
generation up again at the next read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.durability import POSTGRES_SESSION_OPTIONS, views_path
from adapters.generations import table_key
from adapters.persistence import (
    POSTGRES_CONNECT_TIMEOUT_SECONDS,
    PostgresLocation,
    SQLiteLocation,
    StoreLocation,
)
from adapters.position_waits import Found, ReadFailedError, WaitingReader
from adapters.sql import quoted
from adapters.status_query import (
    PROJECTION,
    ActiveGeneration,
    Serving,
    active_query,
    document_params,
    document_query,
    tracked_params,
    tracked_query,
)
from adapters.subscription import wanted_channel
from adapters.wakeups import WANTED

T = TypeVar("T")
SQLITE_BUSY_MILLISECONDS = 50
POOL_MIN, POOL_MAX = 2, 8
POOL_WAIT_SECONDS = 2.0


__all__ = ["ReadFailedError", "StatusReader", "status_reader"]


class StatusReader(Protocol):
    async def document(self, scan_ref: str, wanted: int = 0) -> bytes | None:
        """The stored status document of ``scan_ref`` as JSON, or None when unknown, once
        the view has recorded position ``wanted`` (the caller bounds the wait)."""
        ...

    async def close(self) -> None: ...


class SQLiteStatusReader(WaitingReader):
    """Reads on the calling thread (the event loop) over one query-only connection."""

    def __init__(
        self,
        path: Path,
        generations: ActiveGeneration | None = None,
        serving: Serving | None = None,
        application: str = "",
    ):
        super().__init__()
        self.path = path
        self.serving = serving or Serving()
        self.connection: sqlite3.Connection | None = None
        self.generations = generations or ActiveGeneration()
        self.application = application

    def _connect(self) -> sqlite3.Connection:
        if self.connection is None:
            connection = sqlite3.connect(
                str(self.path),
                check_same_thread=False,
                isolation_level=None,
                timeout=SQLITE_BUSY_MILLISECONDS / 1000,
            )
            connection.execute("PRAGMA query_only = ON")
            self.connection = connection
        return self.connection

    def _active(self) -> tuple[sqlite3.Connection, str, tuple[str, str]]:
        """The connection, the active table, and its key with the application (the
        generation looked up first when it is not fresh)."""
        connection = self._connect()
        if self.generations.cached() is None:
            row = connection.execute(active_query(), (PROJECTION,)).fetchone()
            self.generations.found(None if row is None else int(row[0]))
        key = table_key(PROJECTION, self.generations.generation)
        return connection, self.generations.table, (key, self.application)

    def _read(self, scan_ref: str, wanted: int) -> Found:
        connection, table, tracked = self._active()
        if not wanted:
            row = connection.execute(document_query(table), document_params(scan_ref)).fetchone()
            return 0, self._text(row, 0)
        statement = tracked_query(table)
        row = connection.execute(statement, tracked_params(scan_ref, *tracked)).fetchone()
        return int(row[0] or 0), self._text(row, 1)

    def _tracked(self) -> int:
        connection, _, tracked = self._active()
        row = connection.execute(tracked_query(None), tracked).fetchone()
        return 0 if row is None else int(row[0])

    async def _found(self, scan_ref: str, wanted: int) -> Found:
        return self._failing_over(self._read, scan_ref, wanted)

    async def _position(self) -> int:
        return self._failing_over(self._tracked)

    def _failing_over(self, read: Callable[..., T], *args: Any) -> T:
        try:
            return read(*args)
        except sqlite3.Error as error:
            self.generations.forget()
            raise ReadFailedError(str(error)) from error

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class PostgresStatusReader(WaitingReader):
    """Reads through an async pool of autocommit connections, opened on first use.

    The pool belongs to the event loop that opened it; a read from another loop
    (a test client without a lifespan, say) takes the threaded path instead.
    """

    def __init__(
        self,
        location: PostgresLocation,
        generations: ActiveGeneration | None = None,
        serving: Serving | None = None,
        application: str = "",
    ):
        super().__init__()
        self.location = location
        self.serving = serving or Serving()
        self.schema = location.schema or "public"
        self.generations = generations or ActiveGeneration(partial(quoted, schema=self.schema))
        self.application = application
        self.pool: AsyncConnectionPool[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.opening = asyncio.Lock()

    async def _pool(self) -> AsyncConnectionPool[Any]:
        loop = asyncio.get_running_loop()
        if self.pool is not None:
            if loop is not self.loop:
                raise ReadFailedError("the pool belongs to another event loop")
            return self.pool
        async with self.opening:
            if self.pool is None:
                pool = AsyncConnectionPool(
                    self.location.conninfo(),
                    min_size=POOL_MIN,
                    max_size=POOL_MAX,
                    timeout=POOL_WAIT_SECONDS,
                    kwargs={
                        "autocommit": True,
                        "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS,
                        "options": POSTGRES_SESSION_OPTIONS,
                    },
                    open=False,
                    name="status-reads",
                )
                await pool.open(wait=False)
                self.pool, self.loop = pool, loop
        return self.pool

    async def _active(self, connection: Any) -> tuple[str, tuple[str, str]]:
        """The active table, and its key with the application (the generation looked
        up on ``connection`` first when it is not fresh)."""
        if self.generations.cached() is None:
            cursor = await connection.execute(
                active_query(self.schema, postgres=True), (PROJECTION,)
            )
            row = await cursor.fetchone()
            self.generations.found(None if row is None else int(row[0]))
        key = table_key(PROJECTION, self.generations.generation)
        return self.generations.table, (key, self.application)

    async def _read(self, connection: Any, scan_ref: str, wanted: int) -> Found:
        table, tracked = await self._active(connection)
        if not wanted:
            statement = document_query(table, postgres=True)
            cursor = await connection.execute(statement, document_params(scan_ref))
            return 0, self._text(await cursor.fetchone(), 0)
        statement = tracked_query(table, self.schema, postgres=True)
        cursor = await connection.execute(statement, tracked_params(scan_ref, *tracked))
        row = await cursor.fetchone()
        return int(row[0] or 0), self._text(row, 1)

    async def _tracked(self, connection: Any) -> int:
        _, tracked = await self._active(connection)
        statement = tracked_query(None, self.schema, postgres=True)
        row = await (await connection.execute(statement, tracked)).fetchone()
        return 0 if row is None else int(row[0])

    async def _asked(self, connection: Any) -> None:
        await connection.execute("SELECT pg_notify(%s, '')", (wanted_channel(self.schema),))

    async def _failing_over(self, read: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``read(connection, *args)`` on a connection of the pool."""
        try:
            pool = await self._pool()
            async with pool.connection() as connection:
                return await read(connection, *args)
        except psycopg.Error as error:  # PoolTimeout included
            self.generations.forget()
            raise ReadFailedError(str(error)) from error

    async def _found(self, scan_ref: str, wanted: int) -> Found:
        return await self._failing_over(self._read, scan_ref, wanted)

    async def _position(self) -> int:
        return await self._failing_over(self._tracked)

    async def _want(self) -> None:
        """Ask the workers to hurry, in this process and elsewhere (as
        ``adapters.subscription.ask_for_progress`` does)."""
        WANTED.announce()
        with contextlib.suppress(ReadFailedError):
            await self._failing_over(self._asked)

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            if self.loop is asyncio.get_running_loop():
                await pool.close()


def status_reader(
    location: StoreLocation,
    generations: ActiveGeneration | None = None,
    serving: Serving | None = None,
    application: str = "",
) -> StatusReader:
    """The fast status reader for the views of the ledger at ``location``; given the
    threaded view's ``generations`` and ``serving``, the two share one look-up of the
    active tables and serve documents alike. ``application``: whose events the views'
    tracking records count (for ``minPosition``)."""
    if isinstance(location, SQLiteLocation):
        return SQLiteStatusReader(views_path(location), generations, serving, application)
    return PostgresStatusReader(location, generations, serving, application)
