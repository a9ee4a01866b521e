"""Reads waiting for a view to reach a position: one look at the view serves them all.

A read with ``minPosition`` waits until the projection workers have committed the
batch that holds its position. The workers may run in another process (the default
``ledger serve`` runs them in one of their own, ADR 12), so a waiting read must look
at the view's tracking record. Rather than every waiting read asking the database,
one thread per view looks every ``POLL_SECONDS`` while any read waits (and at once
when workers in this process announce a commit), and wakes them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from adapters.wakeups import PROJECTED

POLL_SECONDS = 0.002


class ProgressWatch:
    """How far one view has got, looked up by one thread while reads wait on it."""

    def __init__(self, look: Callable[[], int | None], name: str):
        self._look = look
        self._name = name
        self._changed = threading.Condition()
        self._waiting = 0
        self._reached = 0
        self._watching = False

    def wait(self, position: int, timeout: float) -> bool:
        """Whether the view reached ``position`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._waiting += 1
            try:
                if not self._watching:
                    self._watching = True
                    threading.Thread(target=self._watch, name=self._name, daemon=True).start()
                while self._reached < position:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(remaining)
                return True
            finally:
                self._waiting -= 1

    def _watch(self) -> None:
        while True:
            with self._changed:
                if not self._waiting:
                    self._watching = False
                    self._reached = 0
                    return
            seen = PROJECTED.count
            try:
                reached = self._look() or 0
            except Exception:
                reached = 0  # the reads time out if it lasts
            with self._changed:
                # Not the largest seen: after a replay's switch the new tables count.
                self._reached = reached
                self._changed.notify_all()
            PROJECTED.wait(seen, POLL_SECONDS)
