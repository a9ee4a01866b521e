"""Status documents read straight from the active view table, without a thread hop.

A status read is one primary-key ``SELECT`` that takes tens of microseconds. Handing
it to a worker thread, and waking the event loop when it is done, costs more than the
read itself, and under concurrency the threads and the loop contend for the GIL. So:

- on SQLite the query runs on the event loop, over a connection of its own that only
  reads. In WAL mode readers do not wait for writers; a short busy timeout bounds the
  rare wait (WAL recovery), and the caller falls back to the threaded path on any error;
- on PostgreSQL it runs on psycopg's async pool, in autocommit: one round trip.

The document comes back as the JSON text stored in the view, ready to send. The query,
the table's name and the generation cache are those of the threaded read
(``adapters.status_query``); a read that finds its table gone looks the active
generation up again at the next read.
"""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.durability import POSTGRES_SESSION_OPTIONS, views_path
from adapters.persistence import (
    POSTGRES_CONNECT_TIMEOUT_SECONDS,
    PostgresLocation,
    SQLiteLocation,
    StoreLocation,
)
from adapters.sql import quoted
from adapters.status_query import (
    PROJECTION,
    ActiveGeneration,
    Serving,
    active_query,
    document_params,
    document_query,
)

SQLITE_BUSY_MILLISECONDS = 50
POOL_MIN, POOL_MAX = 2, 8
POOL_WAIT_SECONDS = 2.0


class ReadFailedError(Exception):
    """The fast path could not answer; the caller reads the threaded way instead."""


class StatusReader(Protocol):
    async def document(self, scan_ref: str) -> bytes | None:
        """The stored status document of ``scan_ref`` as JSON, or None when unknown."""
        ...

    async def close(self) -> None: ...


class SQLiteStatusReader:
    """Reads on the calling thread (the event loop) over one query-only connection."""

    def __init__(
        self,
        path: Path,
        generations: ActiveGeneration | None = None,
        serving: Serving | None = None,
    ):
        self.path = path
        self.serving = serving or Serving()
        self.connection: sqlite3.Connection | None = None
        self.generations = generations or ActiveGeneration()

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

    def _read(self, scan_ref: str) -> bytes | None:
        connection = self._connect()
        if self.generations.cached() is None:
            row = connection.execute(active_query(), (PROJECTION,)).fetchone()
            self.generations.found(None if row is None else int(row[0]))
        table = self.generations.table
        row = connection.execute(document_query(table), document_params(scan_ref)).fetchone()
        return None if row is None else self.serving.text(row[0], row[1]).encode()

    async def document(self, scan_ref: str) -> bytes | None:
        try:
            return self._read(scan_ref)
        except sqlite3.Error as error:
            self.generations.forget()
            raise ReadFailedError(str(error)) from error

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class PostgresStatusReader:
    """Reads through an async pool of autocommit connections, opened on first use.

    The pool belongs to the event loop that opened it; a read from another loop
    (a test client without a lifespan, say) takes the threaded path instead.
    """

    def __init__(
        self,
        location: PostgresLocation,
        generations: ActiveGeneration | None = None,
        serving: Serving | None = None,
    ):
        self.location = location
        self.serving = serving or Serving()
        self.schema = location.schema or "public"
        self.generations = generations or ActiveGeneration(partial(quoted, schema=self.schema))
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

    async def _read(self, scan_ref: str) -> bytes | None:
        pool = await self._pool()
        async with pool.connection() as connection:
            if self.generations.cached() is None:
                cursor = await connection.execute(
                    active_query(self.schema, postgres=True), (PROJECTION,)
                )
                row = await cursor.fetchone()
                self.generations.found(None if row is None else int(row[0]))
            table = self.generations.table
            cursor = await connection.execute(
                document_query(table, postgres=True), document_params(scan_ref)
            )
            found = await cursor.fetchone()
        return None if found is None else self.serving.text(found[0], found[1]).encode()

    async def document(self, scan_ref: str) -> bytes | None:
        try:
            return await self._read(scan_ref)
        except psycopg.Error as error:  # PoolTimeout included
            self.generations.forget()
            raise ReadFailedError(str(error)) from error

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            if self.loop is asyncio.get_running_loop():
                await pool.close()


def status_reader(
    location: StoreLocation,
    generations: ActiveGeneration | None = None,
    serving: Serving | None = None,
) -> StatusReader:
    """The fast status reader for the views of the ledger at ``location``; given the
    threaded view's ``generations`` and ``serving``, the two share one look-up of the
    active tables and serve documents alike."""
    if isinstance(location, SQLiteLocation):
        return SQLiteStatusReader(views_path(location), generations, serving)
    return PostgresStatusReader(location, generations, serving)
