"""One active runner per projection, however many processes run projection workers.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its
own: when its process dies, the server ends the session and releases the lock, and
a standby's next try takes it. On SQLite (one machine) an exclusive ``flock`` on a
file beside the views plays the same part; the kernel releases it with the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

import psycopg

from adapters.durability import views_path
from adapters.persistence import POSTGRES_CONNECT_TIMEOUT_SECONDS, PostgresLocation, StoreLocation


class Leadership(Protocol):
    """The right to run one projection."""

    def try_acquire(self) -> bool:
        """Take the lead if nobody holds it; True when this process now leads."""
        ...

    def still_held(self) -> bool:
        """Whether the lead taken is still this process's."""
        ...

    def release(self) -> None: ...


def lock_key(scope: str, name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a projection in a schema."""
    digest = hashlib.sha256(f"verification-ledger:{scope}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeadership:
    """A session-level advisory lock, on a connection kept for as long as it is held."""

    def __init__(self, location: PostgresLocation, name: str):
        self.location = location
        self.key = lock_key(location.schema or "public", name)
        self.connection: psycopg.Connection[tuple[object, ...]] | None = None
        self.held = False

    def try_acquire(self) -> bool:
        try:
            if self.connection is None or self.connection.closed:
                self.connection = psycopg.connect(
                    self.location.conninfo(),
                    autocommit=True,
                    connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS,
                )
            row = self.connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            self._drop()
            return False
        self.held = bool(row and row[0])
        return self.held

    def still_held(self) -> bool:
        """The lock is held and its session is alive (the server ends both together)."""
        if self.connection is None or not self.held:
            return False
        try:
            self.connection.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self.held and self.connection is not None and not self.connection.closed:
            with contextlib.suppress(psycopg.Error):
                self.connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._drop()

    def _drop(self) -> None:
        self.held = False
        if self.connection is not None:
            with contextlib.suppress(psycopg.Error):
                self.connection.close()
        self.connection = None


class FileLeadership:
    """An exclusive, non-blocking ``flock`` on a file beside the SQLite views."""

    def __init__(self, path: Path):
        self.path = path
        self.file: IO[bytes] | None = None
        self.held = False

    def try_acquire(self) -> bool:
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("ab")
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        with contextlib.suppress(OSError):
            self.file.truncate(0)
            self.file.write(f"{os.getpid()}\n".encode())
            self.file.flush()
        return True

    def still_held(self) -> bool:
        return self.held

    def release(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()
            self.file = None
        self.held = False


@contextlib.contextmanager
def setup_lock(location: StoreLocation) -> Iterator[None]:
    """Held while creating tables, so processes starting together do it one at a time.

    Concurrent ``CREATE TABLE IF NOT EXISTS`` of one table fails on PostgreSQL.
    """
    if isinstance(location, PostgresLocation):
        key = lock_key(location.schema or "public", "__setup__")
        with psycopg.connect(
            location.conninfo(), autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS
        ) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                with contextlib.suppress(psycopg.Error):
                    connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    path = views_path(location).with_name(f"{location.path.name}.setup.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as file:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def leadership_for(location: StoreLocation, name: str) -> Leadership:
    """The leadership of projection ``name`` for the ledger at ``location``."""
    if isinstance(location, PostgresLocation):
        return PostgresLeadership(location, name)
    views = views_path(location)
    return FileLeadership(views.with_name(f"{views.name}.{name}.lock"))
