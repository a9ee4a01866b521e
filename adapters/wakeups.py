"""News that something was committed, for the threads of this process that wait on it.

The ledger and the projection workers may share a process (``ledger serve`` runs both)
while each is built on its own: the server's ledger by the ASGI app's factory, the
workers by the command. Two process-wide signals connect them without a query per
event: ``COMMITTED`` is announced after every commit of the ledger's events in this
process (it wakes the projection workers), ``PROJECTED`` after every commit of the
projections' views in this process (it wakes reads waiting for ``minPosition``), and
``WANTED`` when such a read starts to wait (it hurries the workers).
A thread in another process never hears them; those waiters poll as well.
"""

from __future__ import annotations

import math
import threading
import time


class Signal:
    """A count of announcements, and a way to wait for the next one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0
        self._listeners: set[threading.Event] = set()

    @property
    def count(self) -> int:
        return self._count

    def announce(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        for wakeup in listeners:
            wakeup.set()

    def listen(self, wakeup: threading.Event) -> None:
        """Set ``wakeup`` at every announcement from now on, until ``ignore``."""
        with self._changed:
            self._listeners.add(wakeup)

    def ignore(self, wakeup: threading.Event) -> None:
        with self._changed:
            self._listeners.discard(wakeup)

    def wait(self, seen: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for an announcement after the ``seen``-th;
        the count at return."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._count == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._count


class Flag(threading.Event):
    """An event that remembers when it was last set."""

    def __init__(self) -> None:
        super().__init__()
        self.last_set = -math.inf

    def set(self) -> None:
        self.last_set = time.monotonic()
        super().set()


COMMITTED = Signal()
"""The ledger committed events in this process."""
PROJECTED = Signal()
"""The projection workers of this process committed a batch of their views."""
WANTED = Signal()
"""A read in this process waits for a view to reach a position it has not reached."""
