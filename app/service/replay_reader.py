"""The facts of the ledger's events, in batches, for a replay.

Reading the stored events and extracting their facts is about half of a replay's
work; folding them and writing the views is the other half. A replay of many
events therefore reads in a process of its own, so that the halves run at once on
two cores (threads would not: both halves are mostly Python, and the GIL would take
turns). The reader sends each batch through a pipe as MessagePack; a thread of the
replay takes them off the pipe into a queue of ``AHEAD`` batches, so the reader runs
at most a few batches ahead and memory stays bounded.

When the replay builds every named projection from nothing, the reader also takes a
share of the folding: a verification whose first event is in the batch has no facts
stored yet, so the reader can evaluate it and make its rows itself. It does so for
``READER_SHARE`` of those, and sends the facts of the rest. A small replay, or a
ledger another process could not open (in memory), is read in this process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from adapters.fact_codec import encode_facts
from adapters.fast_facts import read_facts
from adapters.view_tables import VIEW_CLASSES
from app.config import environment
from app.service.framing import read_frame, write_frame
from app.service.ledger import Ledger
from projections.facts import Fact
from projections.verification_view import folded

# From this many events to read, a replay starts a reader process (about a second).
PROCESS_THRESHOLD = 100_000
STOP_SECONDS = 5.0
# Batches read ahead from the reader process (each a few megabytes).
AHEAD = 3
# The share of new verifications the reader folds itself, balancing the two processes.
READER_SHARE = 0.5
# Verifications a process remembers having seen (to know new ones, which have no stored
# facts); beyond that many it stops remembering: the reader only reads, the replay asks.
MAX_REMEMBERED = 2_000_000


@dataclass
class FactBatch:
    """One batch of the ledger, as the replay folds it."""

    facts: list[tuple[str, Fact]]
    """(scanRef, fact) of the events left for the replay to fold."""
    last: int
    """The position of the batch's last event."""
    count: int
    """How many events the batch read."""
    rows: dict[str, list[list[Any]]] = field(default_factory=dict)
    """Rows the reader made, by projection (``SqlVerificationView.row``)."""
    done: list[str] = field(default_factory=list)
    """The verifications of those rows."""


class ReadFailedError(Exception):
    """The reader process could not read the ledger; the text says why."""


class Request(msgspec.Struct, array_like=True):
    env: dict[str, str]
    start: int
    batch_size: int
    fold: list[str] = []
    share: float = READER_SHARE


class Batch(msgspec.Struct, array_like=True):
    last: int = 0
    count: int = 0
    facts: list[tuple[str, Fact]] = []
    rows: dict[str, list[list[Any]]] = {}
    done: list[str] = []
    error: str | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Batch)


def read_here(ledger: Ledger, start: int, batch_size: int) -> Iterator[FactBatch]:
    """The batches after ``start``, read in this process."""
    position = start
    while True:
        facts, position, count = read_facts(ledger.recorder, ledger.mapper, position, batch_size)
        if not count:
            return
        yield FactBatch(facts, position, count)
        if count < batch_size:
            return


def fact_batches(
    ledger: Ledger, start: int, batch_size: int, head: int, fold: Sequence[str] = ()
) -> Iterator[FactBatch]:
    """The batches after ``start``: from a reader process when there are many.

    ``fold`` names the projections the reader may make rows for: only when they are
    all built from nothing, so that a verification new to the reader has no rows.
    """
    if head - start >= PROCESS_THRESHOLD and _readable_elsewhere(ledger):
        return read_in_process(dict(ledger.env), start, batch_size, fold)
    return read_here(ledger, start, batch_size)


def _readable_elsewhere(ledger: Ledger) -> bool:
    """Whether another process can open this ledger's store from its settings."""
    module = ledger.env.get("PERSISTENCE_MODULE", "")
    if "Postgres" in module:
        return True
    name = ledger.env.get("SQLITE_DBNAME", "")
    in_memory = ":memory:" in name or "mode=memory" in name
    return "SQLite" in module and bool(name) and not in_memory


def read_in_process(
    env: dict[str, str], start: int, batch_size: int, fold: Sequence[str] = ()
) -> Generator[FactBatch, None, None]:
    """The batches after ``start``, read by a process started for it.

    The process runs this module (``python -m app.service.replay_reader``) with the same
    interpreter and code; it gets the store's settings on its standard input, so that
    no key or password shows in a process list, and answers on its standard output.
    """
    code = str(Path(__file__).resolve().parents[2])  # where the ``app`` package is
    inherited = environment()
    paths = [code, *filter(None, inherited.get("PYTHONPATH", "").split(os.pathsep))]
    process = subprocess.Popen(
        [sys.executable, "-m", "app.service.replay_reader"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**inherited, "PYTHONPATH": os.pathsep.join(paths)},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    frames = Frames(process.stdout)
    try:
        with process.stdin:
            process.stdin.write(
                _encoder.encode(Request(env, start, batch_size, list(fold), READER_SHARE))
            )
        frames.start()
        while True:
            batch = _decoder.decode(frames.next())
            if batch.error is not None:
                raise ReadFailedError(batch.error)
            if not batch.count:
                return
            yield FactBatch(batch.facts, batch.last, batch.count, batch.rows, batch.done)
    finally:
        frames.stop(process)
        process.stdout.close()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Frames(threading.Thread):
    """Reads the reader's batches ahead, up to ``AHEAD`` of them.

    Without it the reader, once its batch fills the pipe, would wait for this process
    to finish the batch before, and each would wait for the other in turn.
    """

    def __init__(self, stream: IO[bytes]):
        super().__init__(name="replay-reader-frames", daemon=True)
        self.stream = stream
        self.frames: queue.Queue[bytes | None] = queue.Queue(AHEAD)
        self.stopping = threading.Event()

    def run(self) -> None:
        frame: bytes | None = None
        try:
            while not self.stopping.is_set():
                frame = read_frame(self.stream)
                self._put(frame)
                if frame is None:
                    return
        except BaseException:
            self._put(None)
            raise

    def _put(self, frame: bytes | None) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(queue.Full):
                self.frames.put(frame, timeout=0.1)
                return

    def next(self) -> bytes:
        frame = self.frames.get()
        if frame is None:
            raise ReadFailedError("the replay's reader process stopped unexpectedly")
        return frame

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop reading ahead; a reader that sends nothing more is killed."""
        self.stopping.set()
        if not self.is_alive():
            return
        self.join(STOP_SECONDS)
        if self.is_alive():
            process.kill()
            self.join()


def _send(stream: IO[bytes], batch: Batch) -> None:
    write_frame(stream, _encoder.encode(batch))


class Folder:
    """The reader's share of the folding: rows for some of the new verifications."""

    def __init__(self, names: Sequence[str], share: float = READER_SHARE):
        self.views = [VIEW_CLASSES[name] for name in names]
        self.portion = share
        self.seen: set[str] | None = set() if names else None
        self.credit = 0.0

    def share(self, batch: FactBatch) -> Batch:
        out = Batch(batch.last, batch.count, rows={view.projection: [] for view in self.views})
        seen = self.seen
        if seen is None:
            out.facts = batch.facts
            return out
        grouped: dict[str, list[Fact]] = {}
        for scan_ref, fact in batch.facts:
            grouped.setdefault(scan_ref, []).append(fact)
        for scan_ref, facts in grouped.items():
            if scan_ref not in seen:
                self.credit += self.portion
            if scan_ref not in seen and self.credit >= 1.0:
                self.credit -= 1.0
                state = folded(scan_ref, (), facts)
                blob = encode_facts(state.facts)
                for view in self.views:
                    out.rows[view.projection].extend(map(list, view.rows(state, blob)))
                out.done.append(scan_ref)
            else:
                out.facts.extend((scan_ref, fact) for fact in facts)
        seen.update(grouped)
        if len(seen) > MAX_REMEMBERED:
            self.seen = None
        return out


def main() -> None:
    """The reader process: every batch after the requested position, then an empty one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the replay's process decides
    gc.disable()
    # Batches go out on a private copy of stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    ledger: Ledger | None = None
    try:
        request = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=Request)
        ledger = Ledger(env={**request.env, "CREATE_TABLE": "n"})
        folder = Folder(request.fold, request.share)
        for batch in read_here(ledger, request.start, request.batch_size):
            _send(out, folder.share(batch))
        _send(out, Batch())
    except (BrokenPipeError, ConnectionResetError):
        pass  # the replay stopped listening
    except Exception as error:
        with contextlib.suppress(OSError):
            _send(out, Batch(error=f"{type(error).__name__}: {error}"))
    finally:
        if ledger is not None:
            ledger.close()
        with contextlib.suppress(OSError):
            out.close()


if __name__ == "__main__":
    main()
