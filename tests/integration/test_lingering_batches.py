"""While deliveries keep coming and nobody waits for the views, the workers on
PostgreSQL let news gather before their next batch; a read that waits asks them to
hurry, from this process or any other (``adapters.subscription``, ``adapters.progress``).

Nothing here measures time: a linger of a minute is either cut short or not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.postgres import PostgresApplicationRecorder

import adapters.progress
from adapters.persistence import eventsourcing_settings
from adapters.progress import ProgressWatch
from adapters.subscription import LedgerNews, ask_for_progress, linger_seconds, wanted_channel
from adapters.wakeups import Flag
from app.config import load
from app.service.ledger import Ledger
from app.service.services import Services
from app.service.workers import ProjectionWorkers
from tests.support.settings import environment
from tests.support.topology import postgres_location

WAIT_SECONDS = 10.0
A_MINUTE = 60.0


@pytest.fixture
def workers(services: Services) -> Iterator[ProjectionWorkers]:
    """Workers that are never started: their waiting between batches is tried alone."""
    built = ProjectionWorkers({}, services.views.sql, lambda name: None)  # type: ignore[arg-type,return-value]
    yield built
    built.stop()


def awaiting(workers: ProjectionWorkers, linger: float) -> threading.Thread:
    """The workers' wait after a batch during which news came, in a thread."""
    workers.wakeup.set()
    thread = threading.Thread(target=workers._await_news, args=(0.0, linger), daemon=True)
    thread.start()
    return thread


def test_news_during_a_batch_makes_the_workers_linger_until_a_read_asks(
    workers: ProjectionWorkers,
) -> None:
    thread = awaiting(workers, A_MINUTE)
    thread.join(0.2)
    assert thread.is_alive(), "the workers did not let news gather"
    workers.hurry.set()  # what the workers' LedgerNews does when a read asks
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()


def test_the_workers_do_not_linger_while_reads_wait_for_them(workers: ProjectionWorkers) -> None:
    workers.hurry.set()
    workers.hurry.clear()  # cleared before each batch, remembered as lately
    thread = awaiting(workers, A_MINUTE)
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()


def test_the_workers_linger_only_on_postgresql(services: Services) -> None:
    recorder = services.ledger.recorder
    expected = 0.3 if isinstance(recorder, PostgresApplicationRecorder) else 0.0
    assert linger_seconds(recorder) == expected


def test_a_waiting_read_asks_for_progress_once_in_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapters.progress, "WANT_SECONDS", A_MINUTE)
    asked: list[int] = []
    reached = [0]
    watch = ProgressWatch(lambda: reached[0], "watch-test", lambda: asked.append(1))
    assert not watch.wait(5, 0.01)
    assert not watch.wait(6, 0.01)
    assert len(asked) == 1, "a second read so soon asked again"
    monkeypatch.setattr(adapters.progress, "WANT_SECONDS", 0.0)
    assert not watch.wait(7, 0.01)
    assert len(asked) == 2
    reached[0] = 7
    assert watch.wait(7, WAIT_SECONDS)


def test_a_read_waiting_in_this_process_hurries_the_workers(services: Services) -> None:
    wakeup, hurry = threading.Event(), Flag()
    news = LedgerNews(services.ledger.recorder, wakeup, hurry)
    try:
        ask_for_progress(services.views.sql)
        assert hurry.wait(WAIT_SECONDS)
    finally:
        news.stop()


@pytest.mark.postgres
def test_a_read_waiting_in_another_process_hurries_the_workers(postgres_url: str) -> None:
    settings = load(environment(postgres_url))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None, create_tables=True))
    wakeup, hurry = threading.Event(), Flag()
    news = LedgerNews(ledger.recorder, wakeup, hurry)
    location = postgres_location(postgres_url)
    try:
        assert wakeup.wait(WAIT_SECONDS), "no wake-up when the LISTEN started"
        assert not hurry.is_set()
        # What ``ask_for_progress`` sends from a server elsewhere (not WANTED, which
        # only this process hears).
        with psycopg.connect(location.conninfo(), autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, '')", (wanted_channel(location.schema),))

        assert hurry.wait(WAIT_SECONDS)
    finally:
        news.stop()
        ledger.close()
