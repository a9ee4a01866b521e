"""News of the ledger for the projection workers: when to look for new events.

The workers read new events themselves, in batches (``app.workers``); all they need
from the store is a wake-up when there may be some. Three sources set one flag, so
that however many commits happen while a batch is being written, the worker reads
once afterwards:

- a commit of the ledger in this process (``COMMITTED``, announced by the recorders
  below): on SQLite the server's own writer wakes the workers beside it;
- on PostgreSQL, the ``NOTIFY`` each insert sends, heard on a connection of its own
  (``LISTEN``), from every process that writes;
- the worker's own clock: it looks again after a short wait in any case, which finds
  what another process committed to SQLite, or a notification lost with its
  connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from adapters.wakeups import COMMITTED

log = logging.getLogger("ledger.projections")

# How long a worker waits for news before it looks anyway.
SQLITE_POLL_SECONDS = 0.05
POSTGRES_POLL_SECONDS = 0.5
LISTEN_RETRY_SECONDS = 1.0


class AnnouncingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, announcing each commit to this process."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        try:
            return super().insert_events(stored_events, **kwargs)
        finally:
            COMMITTED.announce()


def poll_seconds(recorder: Any) -> float:
    """How long a worker over ``recorder`` may sleep without news."""
    return (
        POSTGRES_POLL_SECONDS
        if isinstance(recorder, PostgresApplicationRecorder)
        else (SQLITE_POLL_SECONDS)
    )


class LedgerNews:
    """Sets ``wakeup`` when the ledger behind ``recorder`` may have new events, until
    ``stop()``."""

    def __init__(self, recorder: Any, wakeup: threading.Event):
        self.wakeup = wakeup
        self.stopping = threading.Event()
        COMMITTED.listen(wakeup)
        self.listener: threading.Thread | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            self.listener = threading.Thread(
                target=self._listen, args=(recorder,), name="ledger-listen", daemon=True
            )
            self.listener.start()

    def _listen(self, recorder: PostgresApplicationRecorder) -> None:
        """LISTEN on the events table's channel; every notification sets the flag."""
        statement = SQL("LISTEN {0}").format(Identifier(recorder.channel_name))
        while not self.stopping.is_set():
            try:
                with recorder.datastore.get_connection() as connection:
                    connection.execute(statement)
                    # Events committed before the LISTEN sent their news to nobody.
                    self.wakeup.set()
                    while not self.stopping.is_set():
                        for _ in connection.notifies(timeout=0.25, stop_after=1):
                            self.wakeup.set()
                    with contextlib.suppress(Exception):
                        connection.execute("UNLISTEN *")
            except Exception as error:
                log.info("listening for new events failed (%s); again", type(error).__name__)
                self.stopping.wait(LISTEN_RETRY_SECONDS)

    def stop(self) -> None:
        COMMITTED.ignore(self.wakeup)
        self.stopping.set()
        if self.listener is not None:
            self.listener.join(2.0)
