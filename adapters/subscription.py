"""News of the ledger for the projection workers: when to look for new events.

The workers read new events themselves, in batches (``app.service.workers``); all they need
from the store is a wake-up when there may be some. Three sources set one flag, so
that however many commits happen while a batch is being written, the worker reads
once afterwards:

- a commit of the ledger: on PostgreSQL the ``NOTIFY`` each insert sends, heard on a
  connection of the worker's own (``LISTEN``); on SQLite a datagram that every process
  committing to the ledger file sends, after each commit, to a socket the leading
  worker process listens on (one name per ledger file, in Linux's abstract socket
  namespace, so nothing is left on disk), and within one process an announcement
  (``COMMITTED``);
- the worker's own clock: it looks again after a short wait in any case, which finds
  what a program outside the service committed, or news lost on the way.

While deliveries keep coming and no read waits for the views, a worker on PostgreSQL
lets news gather for up to ``POSTGRES_LINGER_SECONDS`` before its next batch
(``linger_seconds``): a batch costs about as much again in round trips and commits
whatever its size, so fewer, larger batches leave the cores to the ingest. A read that
waits for a position (``minPosition``) says so (``ask_for_progress``: a ``NOTIFY`` on
the ledger's ``wanted_channel``, and ``WANTED`` in this process), which sets the
worker's second flag, ``hurry``: it ends the wait, and for ``READERS_SECONDS`` after it
the worker lets nothing gather, since somebody is waiting for each batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from adapters.data_keys import TABLE as KEYS_TABLE
from adapters.data_keys import current_sealing, write_sealing
from adapters.sql import Sql, quoted
from adapters.wakeups import COMMITTED, WANTED, Flag

log = logging.getLogger("ledger.projections")

# How long a worker waits for news before it looks anyway.
SQLITE_POLL_SECONDS = 0.05
POSTGRES_POLL_SECONDS = 0.5
LISTEN_RETRY_SECONDS = 1.0
# How long a worker lets news gather while deliveries keep coming, unless hurried;
# and for how long after a read asked it to hurry it lets nothing gather.
POSTGRES_LINGER_SECONDS = 0.3
READERS_SECONDS = 1.0


def news_address(database: str) -> bytes:
    """The abstract socket name of the projection workers of the SQLite file ``database``."""
    digest = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:40]
    return f"\0verification-ledger-news-{digest}".encode()


class AnnouncingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, telling the projection workers of each commit, and
    storing the data keys a write sealed its payloads with in its transaction
    (``adapters.data_keys``)."""

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        # The events first: a write that began by reading would be refused at once
        # (SQLITE_BUSY) when another connection committed after that read.
        inserted = super()._insert_events(c, stored_events, **kwargs)
        sealing = current_sealing()
        if sealing is not None:
            write_sealing(c, quoted(KEYS_TABLE), sealing)
        return inserted

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        try:
            return super().insert_events(stored_events, **kwargs)
        finally:
            COMMITTED.announce()
            self._tell_workers()

    def _tell_workers(self) -> None:
        if self.datastore.pool.is_sqlite_memory_mode:
            return
        address = getattr(self, "_address", None)
        if address is None:
            address = self._address = news_address(self.datastore.pool.db_name)
        # Nobody listening, or a full buffer (the workers are busy and will look again
        # anyway): the news is not needed.
        with contextlib.suppress(OSError):
            _sender().sendto(b"!", address)


_senders: list[socket.socket] = []


def _sender() -> socket.socket:
    """This process's socket for sending news (one, kept for the process's life)."""
    if not _senders:
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.setblocking(False)
        _senders.append(sender)
    return _senders[0]


def poll_seconds(recorder: Any) -> float:
    """How long a worker over ``recorder`` may sleep without news."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return POSTGRES_POLL_SECONDS
    return SQLITE_POLL_SECONDS


def linger_seconds(recorder: Any) -> float:
    """How long a worker over ``recorder`` lets news gather while it keeps coming (on
    SQLite a batch is cheap, and the ingest leaves a core to the workers: none)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return POSTGRES_LINGER_SECONDS
    return 0.0


def wanted_channel(schema: str) -> str:
    """The channel on which reads of the ledger in ``schema`` ask the workers to hurry."""
    return f"ledger_wanted_{schema}"[:63]


def ask_for_progress(sql: Sql) -> None:
    """Tell the workers that a read waits for them: in this process, and on PostgreSQL
    the workers of every process (best effort: unheard, they still come within
    ``POSTGRES_LINGER_SECONDS``)."""
    WANTED.announce()
    if isinstance(sql.datastore, PostgresDatastore):
        channel = wanted_channel(sql.datastore.schema)
        with contextlib.suppress(Exception), sql.reading() as c:
            c.execute("SELECT pg_notify(?, '')", (channel,))


class LedgerNews:
    """Sets ``wakeup`` when the ledger behind ``recorder`` may have new events, until
    ``stop()``."""

    def __init__(self, recorder: Any, wakeup: threading.Event, hurry: Flag | None = None):
        self.wakeup = wakeup
        self.hurry = hurry or Flag()
        self.stopping = threading.Event()
        COMMITTED.listen(wakeup)
        WANTED.listen(self.hurry)
        self.listener: threading.Thread | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            target: Any = partial(self._listen, recorder)
        elif not recorder.datastore.pool.is_sqlite_memory_mode:
            target = partial(self._receive, news_address(recorder.datastore.pool.db_name))
        else:
            return
        self.listener = threading.Thread(target=target, name="ledger-news", daemon=True)
        self.listener.start()

    def _receive(self, address: bytes) -> None:
        """Take the datagrams of SQLite commits; each sets the flag.

        Only one process can hold the name: a second worker process (a standby, or one
        started by hand beside ``ledger serve``) tries again every second and polls
        meanwhile.
        """
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            while not self.stopping.is_set():
                try:
                    receiver.bind(address)
                    break
                except OSError:
                    self.stopping.wait(LISTEN_RETRY_SECONDS)
            receiver.settimeout(0.25)
            while not self.stopping.is_set():
                try:
                    receiver.recv(64)
                except TimeoutError:
                    continue
                except OSError:
                    return
                self.wakeup.set()

    def _listen(self, recorder: PostgresApplicationRecorder) -> None:
        """LISTEN on the events table's channel, where every notification sets the
        flag, and on the channel of waiting reads, where one also sets ``hurry``."""
        wanted = wanted_channel(recorder.datastore.schema)
        statements = [
            SQL("LISTEN {0}").format(Identifier(channel))
            for channel in (recorder.channel_name, wanted)
        ]
        while not self.stopping.is_set():
            try:
                with recorder.datastore.get_connection() as connection:
                    for statement in statements:
                        connection.execute(statement)
                    # Events committed before the LISTEN sent their news to nobody.
                    self.wakeup.set()
                    while not self.stopping.is_set():
                        for notice in connection.notifies(timeout=0.25, stop_after=1):
                            if notice.channel == wanted:
                                self.hurry.set()
                            self.wakeup.set()
                    with contextlib.suppress(Exception):
                        connection.execute("UNLISTEN *")
            except Exception as error:
                log.info("listening for new events failed (%s); again", type(error).__name__)
                self.stopping.wait(LISTEN_RETRY_SECONDS)

    def stop(self) -> None:
        COMMITTED.ignore(self.wakeup)
        WANTED.ignore(self.hurry)
        self.stopping.set()
        if self.listener is not None:
            self.listener.join(2.0)
