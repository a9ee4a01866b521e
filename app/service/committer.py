"""The writer process's own side (ADR 11): commit what the server sends, answer each
delivery once its batch has committed, and stop when the server's end closes.

``python -m app.processes writer FD`` runs ``serve``; ``app.service.writer`` is the
server's side, and describes the frames.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable

import msgspec

from app.service.errors import StoreUnavailableError
from app.service.framing import FrameLink, frame
from app.service.ledger import Ledger
from app.service.writer import FAILED, READY, UNAVAILABLE, Request, Response, report_in
from domain.reports import Delivery, Report


def serve(descriptor: int, open_ledger: Callable[[], Ledger]) -> None:
    """Commit what the server sends on ``descriptor`` until the server closes it, in the
    ledger ``open_ledger`` opens (``python -m app.processes writer``)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    asyncio.run(_serve(socket.socket(fileno=descriptor), open_ledger))


async def _serve(sock: socket.socket, open_ledger: Callable[[], Ledger]) -> None:
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()

    def lost() -> None:
        if not stopped.done():
            stopped.set_result(None)

    early: list[bytes] = []  # frames that come before the ledger is open
    link = FrameLink(early.append, lost)
    await loop.connect_accepted_socket(lambda: link, sock)
    assert link.transport is not None
    committer = _Committer(link.transport)
    try:
        ledger = await asyncio.to_thread(open_ledger)
    except Exception as error:
        committer.send(
            (READY, None, FAILED, f"the ledger's writer process cannot open the ledger: {error}")
        )
        link.transport.close()
        return
    committer.ledger = ledger
    link.on_frame = committer.take
    committer.send((READY, None, "", ""))
    for body in early:
        committer.take(body)
    try:
        await stopped
        # The server is gone or going: finish what was taken (it may still be listening).
        if committer.running:
            await asyncio.wait(committer.running)
    finally:
        await asyncio.to_thread(ledger.close)
        link.transport.close()


class _Committer:
    """Each frame from the server recorded in the ledger, and answered when committed."""

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.encode = msgspec.msgpack.Encoder().encode
        self.decode = msgspec.msgpack.Decoder(Request).decode
        self.ledger: Ledger | None = None
        self.running: set[asyncio.Task[None]] = set()

    def send(self, answer: Response) -> None:
        if not self.transport.is_closing():
            self.transport.write(frame(self.encode(answer)))

    def take(self, body: bytes) -> None:
        number, delivery, placed = self.decode(body)
        report = report_in(placed)
        if report is None:
            self.send((number, None, FAILED, "a request without a report"))
            return
        task = asyncio.get_running_loop().create_task(self.record(number, delivery, report))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def record(self, number: int, delivery: Delivery, report: Report) -> None:
        assert self.ledger is not None
        try:
            receipt = await self.ledger.record_async(delivery, report)
        except StoreUnavailableError as error:
            self.send((number, None, UNAVAILABLE, str(error)))
        except Exception as error:
            self.send((number, None, FAILED, f"{type(error).__name__}: {error}"))
        else:
            self.send((number, receipt, "", ""))
