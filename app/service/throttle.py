"""Failed authentications, counted per source address and overall, in bounded memory.

Each server process counts the failures it answers (unknown Bearer tokens, failed
sign-ins) in fixed windows: once a source address, or all of them together, reach
their limit, every further attempt (from that address, or from anyone) is refused
until the window ends. At most ``max_clients`` addresses are remembered; past that,
the address whose window began first is forgotten, and the overall limit still holds.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.config import FailureLimits

MAX_CLIENTS = 10_000


@dataclass
class _Window:
    began: float
    failures: int = 0


class FailureLimiter:
    """Counts failed authentications; ``retry_after`` says when an address may try again."""

    def __init__(
        self,
        limits: FailureLimits,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limits = limits
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, _Window] = OrderedDict()
        self._overall = _Window(clock())

    def __len__(self) -> int:
        return len(self._clients)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or None when it may now."""
        now = self.clock()
        waits = []
        window = self._current(client, now)
        if window is not None and window.failures >= self.limits.per_client:
            waits.append(window.began + self.limits.window_seconds - now)
        overall = self._overall_at(now)
        if overall.failures >= self.limits.overall:
            waits.append(overall.began + self.limits.window_seconds - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, client: str) -> None:
        """Count one failed authentication from ``client``."""
        now = self.clock()
        window = self._current(client, now)
        if window is None:
            self._forget_expired(now)
            while len(self._clients) >= self.max_clients:
                self._clients.popitem(last=False)
            window = self._clients[client] = _Window(now)
        window.failures += 1
        self._overall_at(now).failures += 1

    def _current(self, client: str, now: float) -> _Window | None:
        window = self._clients.get(client)
        if window is not None and now - window.began >= self.limits.window_seconds:
            del self._clients[client]
            return None
        return window

    def _overall_at(self, now: float) -> _Window:
        if now - self._overall.began >= self.limits.window_seconds:
            self._overall = _Window(now)
        return self._overall

    def _forget_expired(self, now: float) -> None:
        """Drop the windows that have ended; they are in the order they began."""
        while self._clients:
            first = next(iter(self._clients.values()))
            if now - first.began < self.limits.window_seconds:
                return
            self._clients.popitem(last=False)
