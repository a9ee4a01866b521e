"""Status documents read straight from the active view table, without a thread hop.

A status read is one primary-key ``SELECT`` that takes tens of microseconds. Handing
it to a worker thread, and waking the event loop when it is done, costs more than the
read itself, and under concurrency the threads and the loop contend for the GIL. So:

- on SQLite the query runs on the event loop, over a connection of its own that only
  reads. In WAL mode readers do not wait for writers; a short busy timeout bounds the
  rare wait (WAL recovery), and the caller falls back to the threaded path on any error;
- on PostgreSQL it runs on psycopg's async pool, in autocommit: one round trip.

The document comes back as the JSON text stored in the view, ready to send. The
active generation is looked up at most every ``GENERATION_LOOKUP_SECONDS`` (as the
threaded readers do); a read that finds its table gone looks it up again once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.durability import POSTGRES_SESSION_OPTIONS, views_path
from adapters.generations import META
from adapters.persistence import (
    POSTGRES_CONNECT_TIMEOUT_SECONDS,
    PostgresLocation,
    SQLiteLocation,
    StoreLocation,
)
from adapters.views import GENERATION_LOOKUP_SECONDS

PROJECTION = "current_status"
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


def _quoted(name: str, schema: str = "") -> str:
    return f'"{schema}"."{name}"' if schema else f'"{name}"'


class _Generations:
    """The active generation's table name, looked up at most twice a second."""

    def __init__(self, schema: str = ""):
        self.schema = schema
        self.table: str | None = None
        self.until = 0.0

    def current(self) -> str | None:
        return self.table if time.monotonic() < self.until else None

    def found(self, active: int | None) -> str:
        self.table = _quoted(f"{PROJECTION}_g{active or 1}", self.schema)
        self.until = time.monotonic() + GENERATION_LOOKUP_SECONDS
        return self.table

    def forget(self) -> None:
        self.until = 0.0


class SQLiteStatusReader:
    """Reads on the calling thread (the event loop) over one query-only connection."""

    def __init__(self, path: Path):
        self.path = path
        self.connection: sqlite3.Connection | None = None
        self.generations = _Generations()

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

    def _table(self, connection: sqlite3.Connection) -> str:
        table = self.generations.current()
        if table is None:
            row = connection.execute(
                f"SELECT active FROM {_quoted(META)} WHERE name = ?", (PROJECTION,)
            ).fetchone()
            table = self.generations.found(None if row is None else int(row[0]))
        return table

    def _read(self, scan_ref: str) -> bytes | None:
        connection = self._connect()
        table = self._table(connection)
        row = connection.execute(
            f"SELECT document FROM {table} WHERE scan_ref = ?", (scan_ref,)
        ).fetchone()
        return None if row is None else str(row[0]).encode()

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

    def __init__(self, location: PostgresLocation):
        self.location = location
        self.generations = _Generations(location.schema or "public")
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
            table = self.generations.current()
            if table is None:
                meta = _quoted(META, self.generations.schema)
                cursor = await connection.execute(
                    f"SELECT active FROM {meta} WHERE name = %s", (PROJECTION,)
                )
                row = await cursor.fetchone()
                table = self.generations.found(None if row is None else int(row[0]))
            cursor = await connection.execute(
                f"SELECT document FROM {table} WHERE scan_ref = %s", (scan_ref,)
            )
            found = await cursor.fetchone()
        return None if found is None else str(found[0]).encode()

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


def status_reader(location: StoreLocation) -> StatusReader:
    """The fast status reader for the views of the ledger at ``location``."""
    if isinstance(location, SQLiteLocation):
        return SQLiteStatusReader(views_path(location))
    return PostgresStatusReader(location)
