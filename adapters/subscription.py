"""A subscription to the SQLite event store, which has none of its own in the library.

PostgreSQL wakes the library's pull loop with LISTEN/NOTIFY; here a ticker wakes
the same loop at a short interval, so the library's ``ProjectionRunner`` machinery
drives projections over both stores through one code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Event, Thread

from eventsourcing.persistence import ApplicationRecorder, ListenNotifySubscription, Subscription
from eventsourcing.sqlite import SQLiteApplicationRecorder

POLL_INTERVAL_SECONDS = 0.05


class PollingSubscription(ListenNotifySubscription[SQLiteApplicationRecorder]):
    """The library's pull loop, woken by a clock instead of a database notification."""

    def __init__(
        self,
        recorder: SQLiteApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        interval: float = POLL_INTERVAL_SECONDS,
    ) -> None:
        self._interval = interval
        self._stopping = Event()
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = Thread(target=self._tick, name="sqlite-subscription-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stopping.wait(self._interval):
            self._has_been_notified.set()

    def stop(self) -> None:
        self._stopping.set()
        super().stop()


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus a polling subscription."""

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)
