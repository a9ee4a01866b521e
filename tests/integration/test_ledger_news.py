"""The projection workers hear of new events without asking the store for each one."""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime
from uuid import UUID

import psycopg
import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from adapters.persistence import eventsourcing_settings
from adapters.sql import Sql
from adapters.subscription import LedgerNews, news_address
from app.config import load
from app.service.ledger import Ledger
from app.service.services import Services
from domain.reports import Registration
from tests.support.scenario import head, wait_for_views
from tests.support.settings import environment
from tests.support.topology import postgres_location
from tests.support.waiting import wait_until

WAIT_SECONDS = 10.0


def test_a_commit_of_the_ledger_in_this_process_wakes_the_workers(database_url: str) -> None:
    settings = load(environment(database_url))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None, create_tables=True))
    wakeup = threading.Event()
    news = LedgerNews(ledger.recorder, wakeup)
    try:
        wakeup.wait(WAIT_SECONDS)  # PostgreSQL: set once when the LISTEN starts
        wakeup.clear()

        ledger.register(Registration("news-1", "user-1"), datetime.now(UTC))

        assert wakeup.wait(WAIT_SECONDS)
    finally:
        news.stop()
        ledger.close()


@pytest.mark.postgres
def test_a_notification_from_another_process_wakes_the_workers(postgres_url: str) -> None:
    settings = load(environment(postgres_url))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None, create_tables=True))
    recorder = ledger.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    wakeup = threading.Event()
    news = LedgerNews(recorder, wakeup)
    try:
        assert wakeup.wait(WAIT_SECONDS), "no wake-up when the LISTEN started"
        wakeup.clear()
        with psycopg.connect(postgres_location(postgres_url).conninfo(), autocommit=True) as other:
            other.execute(SQL("NOTIFY {0}").format(Identifier(recorder.channel_name)))

        assert wakeup.wait(WAIT_SECONDS)
    finally:
        news.stop()
        ledger.close()


def test_an_event_committed_without_any_news_is_still_projected(services: Services) -> None:
    """Written straight into the events table, as another program would, with no
    announcement and no NOTIFY: the workers' own look finds it."""
    services.start_projections()
    ledger = services.ledger
    ledger.register(Registration("quiet-1", "user-1"), datetime.now(UTC))
    wait_for_views(services.views, head(ledger))
    stored = ledger.recorder.select_notifications(start=1, limit=1)[0]
    sql = Sql(ledger.recorder.datastore)  # type: ignore[attr-defined]
    with sql.transaction(commit=True) as c:
        c.execute(
            f"INSERT INTO {sql.table(ledger.recorder.events_table_name)}"  # type: ignore[attr-defined]
            " (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
            (
                stored.originator_id if sql.postgres else UUID(str(stored.originator_id)).hex,
                2,
                stored.topic,
                stored.state,
            ),
        )

    wait_for_views(services.views, head(ledger), timeout=WAIT_SECONDS)
    document = services.views.status.status("quiet-1")
    assert document is not None
    assert document["events"] == 2


def test_a_commit_to_a_sqlite_ledger_sends_news_to_the_workers_socket(sqlite_url: str) -> None:
    settings = load(environment(sqlite_url))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None, create_tables=True))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as workers:
        workers.bind(news_address(str(settings.store.path)))  # type: ignore[union-attr]
        workers.settimeout(WAIT_SECONDS)
        try:
            ledger.register(Registration("news-2", "user-1"), datetime.now(UTC))

            assert workers.recv(64) == b"!"
        finally:
            ledger.close()


def test_news_from_another_process_on_sqlite_wakes_the_workers(sqlite_url: str) -> None:
    """A datagram, as ``ledger serve`` sends one to the projection process after a commit."""
    settings = load(environment(sqlite_url))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None, create_tables=True))
    wakeup = threading.Event()
    news = LedgerNews(ledger.recorder, wakeup)
    address = news_address(str(settings.store.path))  # type: ignore[union-attr]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:

            def woken() -> bool:
                if wakeup.is_set():
                    return True
                with contextlib.suppress(OSError):  # until the workers' socket is bound
                    sender.sendto(b"!", address)
                return wakeup.wait(0.05)

            wait_until(woken, WAIT_SECONDS, "no wake-up", every=0)
    finally:
        news.stop()
        ledger.close()
