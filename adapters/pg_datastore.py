"""The library's PostgreSQL datastore, with reads that keep the connection's prepared
statements.

psycopg forgets every statement a connection has prepared when a transaction on it
rolls back (and sends ``DEALLOCATE ALL``), since a rolled-back transaction may have
dropped what they refer to. The library ends each of its reads
(``transaction(commit=False)``) with a rollback, so one read on a pooled connection
made every later statement on it be parsed and planned again, five times, before it
was prepared again: a live projection's batch, which reads, then writes, paid that
every time. Here a read runs in a ``READ ONLY`` transaction that commits: nothing can
be written in it, and the prepared statements stay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.persistence import PostgresLocation


class PreparedKeepingDatastore(PostgresDatastore):
    """``PostgresDatastore`` whose read transactions commit, read only."""

    @classmethod
    def at(cls, location: PostgresLocation, **pool: Any) -> PreparedKeepingDatastore:
        """A datastore for the database (and schema) of ``location``; ``pool`` are the
        library's other settings (pool size, timeouts)."""
        return cls(
            dbname=location.dbname,
            host=location.host,
            port=location.port,
            user=location.user,
            password=location.password,
            schema=location.schema,
            **pool,
        )

    @contextlib.contextmanager
    def transaction(self, *, commit: bool = False) -> Iterator[Cursor[DictRow]]:
        if commit:
            with super().transaction(commit=True) as cursor:
                yield cursor
            return
        with self.get_connection() as conn:
            conn.read_only = True
            try:
                with conn.transaction():
                    yield conn.cursor()
            finally:
                with contextlib.suppress(Exception):
                    conn.read_only = None


def keep_prepared(datastore: Any) -> None:
    """Make the library's ``datastore`` a ``PreparedKeepingDatastore`` (it adds no state)."""
    if type(datastore) is PostgresDatastore:
        datastore.__class__ = PreparedKeepingDatastore
