"""Status reads on the event loop that wait for the view to reach a position.

A status read with ``minPosition`` waits until the projection workers have committed
the batch that holds its position. Handed to a worker thread, such a read paid for the
thread and for every wake-up in it: under the read-your-writes load of the live
benchmark (PostgreSQL, 1,500 deliveries a second, every fifth read back) the way into
the thread, the way back to the event loop and the threads' noticing of the commit
took 7 ms of a 10 ms read at the median. Here the reads of one event loop wait on
futures, and while any waits one task looks at the view's tracking record every
``POLL_SECONDS`` on the loop (as ``adapters.progress`` does for the threaded reads) and
wakes those whose position it has reached. A read that starts to wait asks the workers
to hurry, at most every ``WANT_SECONDS``.

A look that fails fails every waiting read with ``ReadFailedError``: the caller then
reads the threaded way, which waits on its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.progress import POLL_SECONDS, WANT_SECONDS
from adapters.status_query import Serving
from adapters.wakeups import WANTED


class ReadFailedError(Exception):
    """The fast path could not answer; the caller reads the threaded way instead."""


class PositionWaits:
    """The reads of one event loop waiting for one view; ``look`` gives the view's
    position, ``want`` asks the workers to hurry."""

    def __init__(
        self, look: Callable[[], Awaitable[int]], want: Callable[[], Awaitable[None]]
    ) -> None:
        self._look = look
        self._want = want
        self._wanted = -math.inf
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._watch: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def reach(self, position: int) -> None:
        """Return once the view has recorded ``position``, as the next look finds it
        (the caller has looked just before, and bounds the wait with ``asyncio.timeout``)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._waiting:
                raise ReadFailedError("reads of another event loop are waiting")
            self._loop, self._watch = loop, None
        now = time.monotonic()
        if now - self._wanted >= WANT_SECONDS:
            self._wanted = now
            await self._want()
        arrived: asyncio.Future[None] = loop.create_future()
        entry = (position, arrived)
        self._waiting.append(entry)
        if self._watch is None or self._watch.done():
            self._watch = loop.create_task(self._watching())
        try:
            await arrived
        finally:
            if entry in self._waiting:
                self._waiting.remove(entry)

    async def _watching(self) -> None:
        while self._waiting:
            try:
                reached = await self._look()
            except Exception as error:
                for _, arrived in self._waiting:
                    if not arrived.done():
                        arrived.set_exception(ReadFailedError(str(error)))
                return
            for position, arrived in self._waiting:
                if position <= reached and not arrived.done():
                    arrived.set_result(None)
            await asyncio.sleep(POLL_SECONDS)


Found = tuple[int, bytes | None]
"""What a read found: the view's position when asked for (else 0), and the document."""


class WaitingReader:
    """A read that waits for ``wanted``: the document and the view's position are read in
    one statement, and only a read that finds the view behind waits
    (``adapters.position_waits``), then reads the document again."""

    application: str
    serving: Serving

    def __init__(self) -> None:
        self.waits = PositionWaits(self._position, self._want)

    async def document(self, scan_ref: str, wanted: int = 0) -> bytes | None:
        reached, found = await self._found(scan_ref, wanted)
        if reached >= wanted:
            return found
        await self.waits.reach(wanted)
        return (await self._found(scan_ref, 0))[1]

    def _text(self, row: Any, first: int) -> bytes | None:
        """The document in ``row``'s columns ``first`` (stored) and ``first + 1`` (link)."""
        if row is None or row[first] is None:
            return None
        return self.serving.text(row[first], row[first + 1]).encode()

    async def _found(self, scan_ref: str, wanted: int) -> Found:
        raise NotImplementedError

    async def _position(self) -> int:
        raise NotImplementedError

    async def _want(self) -> None:
        WANTED.announce()  # on SQLite the workers let nothing gather anyway
