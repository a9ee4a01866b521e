"""Group commit: concurrent writes to the ledger share one transaction.

Callers hand in a command for a verification and wait. One of the waiting callers
(the leader) takes everything queued so far, applies the commands in arrival order
to the verifications they name (several commands for one verification see each
other, so a repeat in the same batch is a duplicate), saves every changed
verification in one transaction, and hands each caller its receipt. Then the next
waiting caller leads the next batch. Nobody is answered before the transaction
that holds its event has committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.reports import Receipt
from domain.verification import Verification

Command = Callable[[Verification], Receipt]


@dataclass
class Pending:
    """One caller's write, waiting for its batch."""

    scan_ref: str
    at: datetime
    command: Command
    weight: int = 0
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    settled: bool = False
    receipt: Receipt | None = None
    error: BaseException | None = None

    def settle(self, receipt: Receipt | None = None, error: BaseException | None = None) -> None:
        self.receipt, self.error, self.settled = receipt, error, True
        self.wake.set()

    def outcome(self) -> Receipt:
        if self.error is not None:
            raise self.error
        assert self.receipt is not None
        return self.receipt


BatchWriter = Callable[[Sequence[Pending]], None]


class GroupCommit:
    """Queues writes and lets one waiting caller at a time commit a batch of them."""

    def __init__(self, write: BatchWriter, max_batch: int = 64, max_weight: int = 256 * 1024):
        self.write = write
        self.max_batch = max_batch
        self.max_weight = max_weight
        self.lock = threading.Lock()
        self.queue: list[Pending] = []
        self.leading = False

    def submit(self, scan_ref: str, at: datetime, command: Command, weight: int = 0) -> Receipt:
        """Run ``command`` on the verification in the next committed batch.

        ``weight`` (the payload's size) caps how much goes into one transaction.
        """
        pending = Pending(scan_ref, at, command, weight)
        with self.lock:
            self.queue.append(pending)
            if not self.leading:
                self.leading = pending.lead = True
        if not pending.lead:
            pending.wake.wait()
        if not pending.settled:
            # Woken to lead: commit the next batch, which holds this write.
            self._lead()
        return pending.outcome()

    def fail_waiting(self, error: BaseException) -> None:
        """Answer every write still queued with ``error`` (they would meet the same fate)."""
        with self.lock:
            waiting, self.queue = self.queue, []
        for pending in waiting:
            pending.settle(error=error)

    def _lead(self) -> None:
        with self.lock:
            taken, weight = 0, 0
            for pending in self.queue[: self.max_batch]:
                if taken and weight + pending.weight > self.max_weight:
                    break
                taken, weight = taken + 1, weight + pending.weight
            batch, self.queue = self.queue[:taken], self.queue[taken:]
        try:
            self.write(batch)
        except BaseException as error:  # every caller must hear back, whatever happened
            for pending in batch:
                if not pending.settled:
                    pending.settle(error=error)
        finally:
            with self.lock:
                if self.queue:
                    successor = self.queue[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self.leading = False
