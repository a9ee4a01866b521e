"""Subscriptions to the event store that wake the library's pull loop on a clock too.

SQLite has no subscription of its own in the library: a ticker wakes the library's
pull loop at a short interval, so the library's ``ProjectionRunner`` machinery drives
projections over both stores through one code path.

On PostgreSQL the library's subscription pulls what is recorded, then starts to
LISTEN on another thread; an event committed between the two sends its NOTIFY to
nobody, and the projection would wait for the next event to see it. A slower ticker
wakes that pull loop too, so such an event is seen within a second, as is one whose
notification was lost with a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Event, Thread

from eventsourcing.persistence import ApplicationRecorder, ListenNotifySubscription, Subscription
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresSubscription
from eventsourcing.sqlite import SQLiteApplicationRecorder

POLL_INTERVAL_SECONDS = 0.05
POSTGRES_POLL_INTERVAL_SECONDS = 0.5


class Ticker:
    """Wakes a subscription's pull loop every ``interval`` seconds until it stops."""

    def __init__(self, wake: Event, interval: float, name: str):
        self._wake = wake
        self._interval = interval
        self._stopping = Event()
        self._thread = Thread(target=self._tick, name=name, daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stopping.wait(self._interval):
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()


class PollingSubscription(ListenNotifySubscription[SQLiteApplicationRecorder]):
    """The library's pull loop, woken by a clock instead of a database notification."""

    def __init__(
        self,
        recorder: SQLiteApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        interval: float = POLL_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = Ticker(self._has_been_notified, interval, "sqlite-subscription-ticker")

    def stop(self) -> None:
        self._ticker.stop()
        super().stop()


class TickingPostgresSubscription(PostgresSubscription):
    """The library's LISTEN/NOTIFY subscription, also woken every half second."""

    def __init__(
        self,
        recorder: PostgresApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        interval: float = POSTGRES_POLL_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = Ticker(self._has_been_notified, interval, "postgres-subscription-ticker")

    def stop(self) -> None:
        self._ticker.stop()
        super().stop()


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus a polling subscription."""

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)
