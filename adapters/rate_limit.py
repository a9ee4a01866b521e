"""Spacing out calls to an API that must not be asked too often (iDenfy's status API).

A ``RateLimiter`` for N a minute lets calls go at least 60/N seconds apart: never more
than N in any minute, and never a burst. Its clock and sleep are given, so that tests
need no wall-clock waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Never faster than ``per_minute`` calls a minute: ``wait()`` before each call."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_minute > 0:
            raise ValueError("the rate must be a positive number of calls a minute")
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute
        """Seconds between the starts of two calls, at least."""
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute:g})"

    def wait(self) -> float:
        """Block until the next call may start, and give the seconds waited.

        The first call goes at once. Threads sharing one limiter each get their own
        turn, in the order they asked.
        """
        with self._lock:
            now = self._clock()
            turn = now if self._next is None else max(now, self._next)
            self._next = turn + self.interval
        delay = turn - now
        if delay > 0:
            self._sleep(delay)
        return delay
