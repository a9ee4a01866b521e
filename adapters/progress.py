"""Reads waiting for a view to reach a position: one look at the view serves them all.

A read with ``minPosition`` waits until the projection workers have committed the
batch that holds its position. The workers may run in another process (the default
``ledger serve`` runs them in one of their own, ADR 12), so a waiting read must look
at the view's tracking record. Rather than every waiting read asking the database,
one thread per view looks every ``POLL_SECONDS`` while any read waits (and at once
when workers in this process announce a commit), and wakes them all. A read that
starts to wait calls ``want`` first, at most every ``WANT_SECONDS``, which asks the
workers to hurry (``adapters.subscription.ask_for_progress``): workers that heard
of waiting reads lately do not let news gather.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from adapters.wakeups import PROJECTED

POLL_SECONDS = 0.002
# How often a read that starts to wait asks the workers to hurry, at most.
WANT_SECONDS = 0.25


class ProgressWatch:
    """How far one view has got, looked up by one thread while reads wait on it."""

    def __init__(
        self, look: Callable[[], int | None], name: str, want: Callable[[], None] = lambda: None
    ):
        self._look = look
        self._want = want
        self._wanted = -math.inf
        self._name = name
        self._changed = threading.Condition()
        self._waiting = 0
        self._reached = 0
        self._watching = False

    def wait(self, position: int, timeout: float) -> bool:
        """Whether the view reached ``position`` within ``timeout`` seconds."""
        now = time.monotonic()
        deadline = now + timeout
        with self._changed:
            ask = now - self._wanted >= WANT_SECONDS
            if ask:
                self._wanted = now
        if ask:
            self._want()
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
