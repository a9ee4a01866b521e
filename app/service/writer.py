"""A writer process: the ledger's group commit, run beside the HTTP server's process.

A uvicorn worker is one process, and its event loop and the ledger's writer thread
share one GIL: under load the process spends a whole core on the two, taking turns,
while the machine has cores to spare. ``ledger serve`` on PostgreSQL therefore hands
deliveries to a writer process of its own (ADR 11): the event loop checks, decodes and
answers; the writer process loads, decides, inserts and commits, in parallel.

The two talk over a socket pair, in frames (``app.service.framing``) of msgpack bodies:

- to the writer: ``(id, delivery, outcome, expiration notice, other notice)``, all but
  one of the three None;
- back: ``(id, receipt or None, error kind, message)``, once the delivery's batch has
  committed (or failed), so a 2xx still follows the commit.

The writer process ignores SIGINT and SIGTERM: it stops when the server's end of the
socket closes (the server stopped, or died), after committing and answering what it
had taken. If it dies, every delivery waiting on it gets ``StoreUnavailableError``
(a 503, nothing acknowledged), and the next delivery starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from functools import partial
from typing import cast

import msgspec

from app.service.errors import StoreUnavailableError
from app.service.framing import FrameLink, frame
from domain.reports import (
    CompanyNotice,
    Delivery,
    ExpirationNotice,
    MonitoringNotice,
    OtherNotice,
    Outcome,
    Receipt,
    Report,
)

Slots = tuple[
    Outcome | None,
    ExpirationNotice | None,
    OtherNotice | None,
    MonitoringNotice | None,
    CompanyNotice | None,
]
"""A report in the slot of its type, the others None: MessagePack tells the types apart
by place, not by shape."""
SLOT_TYPES = (Outcome, ExpirationNotice, OtherNotice, MonitoringNotice, CompanyNotice)
Request = tuple[int, Delivery, Slots]
Response = tuple[int, Receipt | None, str, str]
READY = 0
"""The id of the writer process's first frame: its ledger is open (or, with an error, not)."""
UNAVAILABLE, FAILED = "unavailable", "failed"
START_SECONDS = 30.0
STOP_SECONDS = 30.0
RESTART_PAUSE_SECONDS = 1.0
CHILD = (sys.executable, "-m", "app.processes")
"""How child processes are started: the composition root's entry for them."""


def slots(report: Report) -> Slots:
    """``report`` in its slot."""
    placed = tuple(report if isinstance(report, kind) else None for kind in SLOT_TYPES)
    return cast(Slots, placed)


def report_in(placed: Slots) -> Report | None:
    """The report of a request's slots, None when every slot is empty."""
    return next((report for report in placed if report is not None), None)


class WriterStoppedError(Exception):
    """The writer process is gone, or could not be started."""


class WriterProcess:
    """The server's side: starts the writer process and awaits its receipts.

    ``environ`` configures the writer process's ledger as it does ``ledger serve``.
    Use on one event loop; ``record_async`` starts the process when none is running.
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = None if environ is None else dict(environ)
        self.encode = msgspec.msgpack.Encoder().encode
        self.decode = msgspec.msgpack.Decoder(Response).decode
        self.ids = itertools.count(READY + 1)
        self.waiting: dict[int, asyncio.Future[Receipt]] = {}
        """The current writer process's deliveries still to be answered."""
        self.process: subprocess.Popen[bytes] | None = None
        self.link: FrameLink | None = None
        self.starting = asyncio.Lock()
        self.last_start = -RESTART_PAUSE_SECONDS
        self.closed = False

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self) -> None:
        """Start the writer process, unless one runs, and wait until its ledger is open."""
        async with self.starting:
            if self.closed:
                raise WriterStoppedError("the ledger is closed")
            if not _open(self.link):
                await self._start()

    async def record_async(self, delivery: Delivery, report: Report) -> Receipt:
        """``Ledger.record_async``, committed by the writer process."""
        link = self.link
        if link is None or not _open(link):
            link = await self._restart()
        number = next(self.ids)
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self.waiting[number] = future
        assert link.transport is not None
        link.transport.write(frame(self.encode((number, delivery, slots(report)))))
        return await future

    async def close(self) -> None:
        """Let the writer process commit what it has, answer it, and stop."""
        self.closed = True
        async with self.starting:
            if self.waiting:
                await asyncio.wait(list(self.waiting.values()), timeout=STOP_SECONDS)
            if self.link is not None and self.link.transport is not None:
                self.link.transport.close()
            process, self.process = self.process, None
            if process is not None:
                await asyncio.to_thread(_reap, process)

    async def _restart(self) -> FrameLink:

        async with self.starting:
            link = self.link
            if link is not None and _open(link):
                return link
            if self.closed:
                raise StoreUnavailableError("the ledger is closed")
            if time.monotonic() - self.last_start < RESTART_PAUSE_SECONDS:
                raise StoreUnavailableError("the ledger's writer process is restarting")
            try:
                return await self._start()
            except WriterStoppedError as error:
                raise StoreUnavailableError(str(error)) from error

    async def _start(self) -> FrameLink:
        self.last_start = time.monotonic()
        if self.process is not None:
            await asyncio.to_thread(_reap, self.process)
            self.process = None
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = await asyncio.to_thread(
                subprocess.Popen,
                [*CHILD, "writer", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=self.environ,
                stdin=subprocess.DEVNULL,
            )
        loop = asyncio.get_running_loop()
        # Each writer process answers for its own start and deliveries: when one is
        # lost, only those wait in vain.
        ready: asyncio.Future[Response] = loop.create_future()
        waiting: dict[int, asyncio.Future[Receipt]] = {}
        link = FrameLink(partial(self._answer, ready, waiting), partial(self._lost, ready, waiting))
        await loop.connect_accepted_socket(lambda: link, ours)
        try:
            _, _, kind, message = await asyncio.wait_for(ready, START_SECONDS)
        except TimeoutError:
            self._stop_link(link)
            failure = f"no answer within {START_SECONDS:.0f} seconds"
            raise WriterStoppedError(
                f"the ledger's writer process did not start: {failure}"
            ) from None
        except WriterStoppedError as error:
            self._stop_link(link)
            raise WriterStoppedError(
                f"the ledger's writer process did not start: {error}"
            ) from None
        if kind:
            self._stop_link(link)
            raise WriterStoppedError(message)
        # Only now may deliveries go to it.
        self.link, self.waiting = link, waiting
        return link

    def _stop_link(self, link: FrameLink) -> None:
        if link.transport is not None:
            link.transport.close()
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    def _answer(
        self,
        ready: asyncio.Future[Response],
        waiting: dict[int, asyncio.Future[Receipt]],
        body: bytes,
    ) -> None:

        number, receipt, kind, message = self.decode(body)
        if number == READY:
            if not ready.done():
                ready.set_result((number, receipt, kind, message))
            return
        future = waiting.pop(number, None)
        if future is None or future.done():
            return
        if receipt is not None:
            future.set_result(receipt)
        elif kind == UNAVAILABLE:
            future.set_exception(StoreUnavailableError(message))
        else:
            future.set_exception(RuntimeError(f"the ledger's writer process failed: {message}"))

    def _lost(
        self, ready: asyncio.Future[Response], waiting: dict[int, asyncio.Future[Receipt]]
    ) -> None:

        if not ready.done():
            ready.set_exception(WriterStoppedError("it stopped"))
        lost = list(waiting.values())
        waiting.clear()
        for future in lost:
            if not future.done():
                future.set_exception(
                    StoreUnavailableError("the ledger's writer process stopped before committing")
                )


def _open(link: FrameLink | None) -> bool:
    return link is not None and link.transport is not None and not link.transport.is_closing()


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
