"""A projection's subscription sees every event, even one whose NOTIFY nobody heard."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.persistence import eventsourcing_settings
from adapters.sql import Sql
from app.config import load
from app.ledger import Ledger
from domain.reports import Registration
from tests.conftest import environment

WAIT_SECONDS = 10.0


@pytest.mark.postgres
def test_an_event_committed_without_a_notification_still_reaches_the_subscription(
    postgres_url: str,
) -> None:
    settings = load(environment(postgres_url))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None))
    ledger.register(Registration("first", "user-1"), datetime.now(UTC))
    received: list[Notification] = []
    arrived = threading.Event()
    subscription = ledger.recorder.subscribe(gt=1)

    def consume() -> None:
        with subscription:
            for notification in subscription:
                received.append(notification)
                arrived.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        # A second event written as the library writes it, but without its NOTIFY:
        # as if it had committed just before the subscription started listening.
        recorder = ledger.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        stored = recorder.select_notifications(start=1, limit=1)[0]
        sql = Sql(recorder.datastore)
        with sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {sql.table(recorder.events_table_name)}"
                " (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                (stored.originator_id, 2, stored.topic, stored.state),
            )
        assert arrived.wait(WAIT_SECONDS), "the unannounced event was never seen"
        assert [n.originator_version for n in received] == [2]
    finally:
        subscription.stop()
        consumer.join(WAIT_SECONDS)
        ledger.close()
