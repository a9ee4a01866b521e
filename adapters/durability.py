"""The library's recorders, with every connection committing durably.

A webhook is acknowledged only after its event is committed, so the commit must
survive a power cut: SQLite runs with ``synchronous=FULL`` and PostgreSQL sessions
with ``synchronous_commit=on``, set on each connection rather than trusted to the
server or build defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment

POSTGRES_SESSION_OPTIONS = "-c synchronous_commit=on"


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """SQLite connections in WAL mode that sync the log on every commit."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection.cursor().execute("PRAGMA synchronous=FULL")
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """The library's SQLite persistence, on a durable connection pool."""

    def __init__(self, env: Environment | dict[str, str] | None):
        super().__init__(env)
        default_pool = self.datastore.pool
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=default_pool.db_name, lock_timeout=default_pool.lock_timeout
        )
        default_pool.close()


class FailFastPostgresApplicationRecorder(PostgresApplicationRecorder):
    """The library's recorder, without its ten retries when the server is unreachable.

    A webhook sender waits about ten seconds for an answer; a quick 503 lets it retry
    later, where retrying here would keep it waiting until it gives up.
    """

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        return _single_attempt(PostgresApplicationRecorder.insert_events)(
            self, stored_events, **kwargs
        )

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
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs["options"] = POSTGRES_SESSION_OPTIONS
