"""The tree follower: the ledger's Merkle tree kept up with the ledger, beside the
projections, and a checkpoint published every interval while the tree grows (ADR 28).

It runs in the projection workers' process (``ledger serve``'s child, or ``ledger
project``), in a thread of its own. Appends are checked against the size they began
from, so several followers (one per ``ledger project``) never interleave; a loser
reads the tree again. Between passes it waits for the projections' news of a batch,
or a poll, and at least ``PAUSE_SECONDS``, so that its commits come a few a second
whatever the ingest rate (each is one more sync of the ledger's file on SQLite).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from adapters.wakeups import PROJECTED
from app.service.merkle_log import BATCH, TreeLog

log = logging.getLogger("ledger.tree")

PAUSE_SECONDS = 0.2
POLL_SECONDS = 1.0
RESTART_DELAY_SECONDS = 1.0


class TreeFollower:
    """Appends to the tree as the ledger grows, and publishes checkpoints every
    ``interval`` seconds (none when ``interval`` is None or no key is configured)."""

    def __init__(
        self, open_log: Callable[[], TreeLog], interval: float | None, enabled: bool = True
    ):
        self.open_log = open_log
        self.interval = interval
        self.enabled = enabled
        """Off (``LEDGER_TREE_FOLLOWER=off``): ``start`` starts nothing; whoever needs the
        tree brings it up to date when asking."""
        self.stopping = threading.Event()
        self.wakeup = threading.Event()
        self.thread = threading.Thread(target=self._supervise, name="tree", daemon=True)

    def start(self) -> TreeFollower:
        if self.enabled:
            PROJECTED.listen(self.wakeup)
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()
        PROJECTED.ignore(self.wakeup)
        if self.thread.is_alive():
            self.thread.join()

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            try:
                self._run()
            except Exception as error:
                log.warning("the tree follower stopped (%s: %s); restarting",
                            type(error).__name__, error)  # fmt: skip
                self.stopping.wait(RESTART_DELAY_SECONDS)

    def _run(self) -> None:
        tree = self.open_log()
        try:
            published = time.monotonic() - (self.interval or 0)
            while not self.stopping.is_set():
                self.wakeup.clear()
                added = tree.catch_up()
                if self._due(published) and tree.signer is not None:
                    published = time.monotonic()
                    size = tree.size()
                    if size and size != tree.latest_size():
                        tree.publish(size)
                if added < BATCH:
                    self.stopping.wait(PAUSE_SECONDS)
                    self.wakeup.wait(POLL_SECONDS)
        finally:
            tree.ledger.close()

    def _due(self, published: float) -> bool:
        return self.interval is not None and time.monotonic() - published >= self.interval
