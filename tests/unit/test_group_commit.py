"""The group commit: batches, answers only after the write, from threads and event loops."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from app.service.group_commit import GroupCommit, Pending
from domain.reports import Receipt

AT = datetime(2026, 1, 1, tzinfo=UTC)


class Store:
    """Writes batches slowly enough for callers to queue up behind them."""

    def __init__(self, fail: bool = False, hold: threading.Event | None = None):
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self.fail = fail
        self.hold = hold

    def write(self, batch: Sequence[Pending]) -> None:
        if self.hold is not None:
            self.hold.wait(5)
        if self.fail:
            raise RuntimeError("cannot commit")
        self.batches.append([p.scan_ref for p in batch])
        self.committed.update(p.scan_ref for p in batch)
        for pending in batch:
            pending.settle(Receipt(pending.scan_ref, len(self.batches), False))


def test_writes_from_many_threads_are_committed_in_batches_and_answered() -> None:
    hold = threading.Event()
    store = Store(hold=hold)
    group = GroupCommit(store.write, max_batch=8)
    receipts: dict[str, Receipt] = {}

    def send(ref: str) -> None:
        receipts[ref] = group.submit(ref, AT, lambda v: Receipt(ref, 0, False))

    threads = [threading.Thread(target=send, args=(f"ref-{n}",)) for n in range(20)]
    for thread in threads:
        thread.start()
    hold.set()
    for thread in threads:
        thread.join(10)
    group.close()

    assert set(receipts) == store.committed == {f"ref-{n}" for n in range(20)}
    assert all(len(batch) <= 8 for batch in store.batches)
    assert len(store.batches) < 20  # some writes shared a transaction


def test_an_awaited_write_is_answered_after_its_batch_is_written() -> None:
    store = Store()
    group = GroupCommit(store.write)

    async def main() -> list[Receipt]:
        return await asyncio.gather(
            *(group.submit_async(f"a-{n}", AT, lambda v: Receipt("x", 0, False)) for n in range(5))
        )

    receipts = asyncio.run(main())
    group.close()
    assert [r.scan_ref for r in receipts] == [f"a-{n}" for n in range(5)]
    assert store.committed == {f"a-{n}" for n in range(5)}


def test_a_failed_write_answers_every_caller_in_its_batch_with_the_error() -> None:
    group = GroupCommit(Store(fail=True).write)

    async def main() -> None:
        await group.submit_async("b", AT, lambda v: Receipt("b", 0, False))

    with pytest.raises(RuntimeError, match="cannot commit"):
        asyncio.run(main())
    with pytest.raises(RuntimeError, match="cannot commit"):
        group.submit("c", AT, lambda v: Receipt("c", 0, False))
    group.close()


def test_a_caller_that_stops_waiting_still_has_its_write_committed() -> None:
    hold = threading.Event()
    store = Store(hold=hold)
    group = GroupCommit(store.write)

    async def main() -> None:
        task = asyncio.ensure_future(group.submit_async("d", AT, lambda v: Receipt("d", 0, False)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    hold.set()
    group.close()
    assert store.committed == {"d"}


def test_closing_commits_what_is_queued_and_then_refuses_more() -> None:
    hold = threading.Event()
    store = Store(hold=hold)
    group = GroupCommit(store.write)
    sender = threading.Thread(target=group.submit, args=("e", AT, lambda v: None))
    sender.start()
    while group.writer is None:  # the write is queued once the writer has started
        time.sleep(0.001)
    closer = threading.Thread(target=group.close)
    closer.start()
    hold.set()
    closer.join(10)
    sender.join(10)
    assert store.committed == {"e"}
    with pytest.raises(RuntimeError, match="closed"):
        group.submit("f", AT, lambda v: Receipt("f", 0, False))
