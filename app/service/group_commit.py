"""Group commit: concurrent writes to the ledger share one transaction.

Callers hand in a command for a verification and wait. A writer thread takes
everything queued so far, applies the commands in arrival order to the verifications
they name (several commands for one verification see each other, so a repeat in the
same batch is a duplicate), saves every changed verification in one transaction,
and hands each caller its receipt. Then it takes the next batch: what queued up
while it was committing. Nobody is answered before the transaction that holds its
event has committed.

Callers on an event loop (the webhook endpoint) await their receipt without holding
a thread of the threadpool; other callers block until theirs is settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    wake: threading.Event | None = None
    """What a blocked caller waits on (an awaiting caller has ``future`` instead)."""
    settled: bool = False
    receipt: Receipt | None = None
    error: BaseException | None = None
    future: asyncio.Future[None] | None = None

    def settle(self, receipt: Receipt | None = None, error: BaseException | None = None) -> None:
        """Record the outcome; a blocked caller wakes now, an awaiting one with its batch."""
        self.receipt, self.error, self.settled = receipt, error, True
        if self.wake is not None:
            self.wake.set()

    def outcome(self) -> Receipt:
        if self.error is not None:
            raise self.error
        assert self.receipt is not None
        return self.receipt


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _wake(pendings: Sequence[Pending]) -> None:
    """Wake the awaiting callers of ``pendings``: one call into each event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for pending in pendings:
        if pending.future is not None:
            by_loop.setdefault(pending.future.get_loop(), []).append(pending.future)
    for loop, futures in by_loop.items():
        # RuntimeError: the caller's event loop has closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, futures)


BatchWriter = Callable[[Sequence[Pending]], None]


class GroupCommit:
    """Queues writes; a writer thread of its own commits them, a batch at a time."""

    def __init__(self, write: BatchWriter, max_batch: int = 64, max_weight: int = 256 * 1024):
        self.write = write
        self.max_batch = max_batch
        self.max_weight = max_weight
        self.lock = threading.Lock()
        self.queued = threading.Condition(self.lock)
        self.queue: list[Pending] = []
        self.writer: threading.Thread | None = None
        self.closed = False

    def submit(self, scan_ref: str, at: datetime, command: Command, weight: int = 0) -> Receipt:
        """Run ``command`` on the verification in the next committed batch, and wait.

        ``weight`` (the payload's size) caps how much goes into one transaction.
        """
        wake = threading.Event()
        pending = self._enqueue(Pending(scan_ref, at, command, weight, wake=wake))
        wake.wait()
        return pending.outcome()

    async def submit_async(
        self, scan_ref: str, at: datetime, command: Command, weight: int = 0
    ) -> Receipt:
        """``submit``, for a caller on an event loop: it awaits instead of blocking.

        A caller that stops waiting (its client went away) does not withdraw the
        write: it is committed with its batch all the same, and nobody is told.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = self._enqueue(Pending(scan_ref, at, command, weight, future=future))
        await future
        return pending.outcome()

    def fail_waiting(self, error: BaseException) -> None:
        """Answer every write still queued with ``error`` (they would meet the same fate)."""
        with self.lock:
            waiting, self.queue = self.queue, []
        for pending in waiting:
            pending.settle(error=error)
        _wake(waiting)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self.lock:
            self.closed = True
            self.queued.notify_all()
            writer = self.writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout)

    def _enqueue(self, pending: Pending) -> Pending:
        with self.lock:
            if self.closed:
                raise RuntimeError("the ledger is closed")
            self.queue.append(pending)
            if self.writer is None:
                self.writer = threading.Thread(
                    target=self._run, name="ledger-group-commit", daemon=True
                )
                self.writer.start()
            self.queued.notify()
        return pending

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.queue and not self.closed:
                    self.queued.wait()
                if not self.queue:
                    return
                batch = self._next_batch()
            try:
                self.write(batch)
            except BaseException as error:  # every caller must hear back, whatever happened
                for pending in batch:
                    if not pending.settled:
                        pending.settle(error=error)
            finally:
                _wake(batch)

    def _next_batch(self) -> list[Pending]:
        taken, weight = 0, 0
        for pending in self.queue[: self.max_batch]:
            if taken and weight + pending.weight > self.max_weight:
                break
            taken, weight = taken + 1, weight + pending.weight
        batch, self.queue = self.queue[:taken], self.queue[taken:]
        return batch
