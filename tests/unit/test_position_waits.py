"""Status reads waiting on the event loop for the view to reach their positions
(``adapters.position_waits``): one look serves them all, a failed look sends them the
threaded way, and the workers are asked to hurry once in a while."""

from __future__ import annotations

import asyncio

import pytest

import adapters.position_waits
from adapters.position_waits import PositionWaits, ReadFailedError

A_MINUTE = 60.0
WAIT_SECONDS = 10.0


class View:
    """A view whose position the test moves; it counts the looks at it."""

    def __init__(self) -> None:
        self.position = 0
        self.looks = 0
        self.asked = 0
        self.failing = False

    async def look(self) -> int:
        self.looks += 1
        if self.failing:
            raise ReadFailedError("the views cannot be read")
        return self.position

    async def want(self) -> None:
        self.asked += 1

    def waits(self) -> PositionWaits:
        return PositionWaits(self.look, self.want)


def test_one_look_wakes_every_read_whose_position_it_reached() -> None:
    view = View()
    waits = view.waits()

    async def scenario() -> None:
        reads = [asyncio.create_task(waits.reach(position)) for position in (3, 5, 5, 9)]
        await asyncio.sleep(0.05)
        assert not any(read.done() for read in reads)
        looked = view.looks
        view.position = 5
        async with asyncio.timeout(WAIT_SECONDS):
            await asyncio.gather(*reads[:3])
        assert not reads[3].done()
        assert view.looks - looked <= 2, "each read looked for itself"
        view.position = 9
        async with asyncio.timeout(WAIT_SECONDS):
            await reads[3]

    asyncio.run(scenario())


def test_a_failed_look_sends_every_waiting_read_the_threaded_way() -> None:
    view = View()
    waits = view.waits()

    async def scenario() -> None:
        reads = [asyncio.create_task(waits.reach(position)) for position in (1, 2)]
        await asyncio.sleep(0.05)
        view.failing = True
        for read in reads:
            with pytest.raises(ReadFailedError):
                async with asyncio.timeout(WAIT_SECONDS):
                    await read
        # The next read starts a new watch once the view can be read again.
        view.failing, view.position = False, 2
        async with asyncio.timeout(WAIT_SECONDS):
            await waits.reach(2)

    asyncio.run(scenario())


def test_a_read_that_times_out_leaves_nothing_behind() -> None:
    view = View()
    waits = view.waits()

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await waits.reach(7)
        assert waits._waiting == []

    asyncio.run(scenario())
    # Another event loop may wait once nothing waits in the first.
    view.position = 7
    asyncio.run(waits.reach(7))


def test_a_waiting_read_asks_the_workers_to_hurry_once_in_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapters.position_waits, "WANT_SECONDS", A_MINUTE)
    view = View()
    waits = view.waits()

    async def scenario() -> None:
        view.position = 2
        for position in (1, 2):
            await waits.reach(position)
        assert view.asked == 1
        monkeypatch.setattr(adapters.position_waits, "WANT_SECONDS", 0.0)
        await waits.reach(2)
        assert view.asked == 2

    asyncio.run(scenario())
