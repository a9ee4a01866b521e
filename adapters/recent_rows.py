"""The ledger's newest rows, as one live reader of a process read them, for the others.

The projection workers and the tree follower of one process (``ledger serve``'s child,
or ``ledger project``) follow the same ledger: the tree a moment behind the
projections, since it moves on their news. Each read of rows after a position, in
ledger order and up to a limit, holds every event from that position to its last row;
a reader whose position falls in that span takes what follows from here instead of
reading the same rows from the database again (on PostgreSQL, about a third of what
the tree cost under load).

Only the newest reads are kept, up to ``BUDGET_BYTES`` of stored state; a reader
that fell behind them reads from the database as before.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import deque

from adapters.bulk_load import EventRow

BUDGET_BYTES = 8 * 1024 * 1024
# What a kept row costs beyond its state: the tuple, its integers and strings.
ROW_OVERHEAD_BYTES = 200


def _position(row: EventRow) -> int:
    return row[0]


class RecentRows:
    """Reads of the ledger's rows, newest last, within a budget of bytes."""

    def __init__(self, budget: int = BUDGET_BYTES):
        self.budget = budget
        self._lock = threading.Lock()
        self._reads: deque[tuple[int, list[EventRow], int]] = deque()
        self._bytes = 0

    def keep(self, after: int, rows: list[EventRow]) -> None:
        """Keep ``rows``, read as every row after position ``after`` up to the last of them."""
        if not rows:
            return
        size = sum(len(row[3]) for row in rows) + ROW_OVERHEAD_BYTES * len(rows)
        with self._lock:
            self._reads.append((after, rows, size))
            self._bytes += size
            while self._bytes > self.budget and len(self._reads) > 1:
                self._bytes -= self._reads.popleft()[2]

    def after(self, position: int, limit: int) -> list[EventRow] | None:
        """The rows after ``position``, up to ``limit`` and as far as the kept reads go
        without a gap; None when no kept read holds the next row after ``position``."""
        found: list[EventRow] = []
        edge = position
        with self._lock:
            reads = list(self._reads)
        while len(found) < limit:
            span = next((rows for after, rows, _ in reads if after <= edge < rows[-1][0]), None)
            if span is None:
                break
            found.extend(span[bisect_right(span, edge, key=_position) :])
            edge = span[-1][0]
        return found[:limit] if found else None
