"""The facts of the ledger's events, in batches, for a replay.

Reading the stored events and extracting their facts is about half of a replay's
work; folding them and writing the views is the other half. A replay of many
events therefore reads in a process of its own, so that both halves run at once on
two cores (threads would not: both halves are mostly Python, and the GIL would take
turns). The reader sends each batch's facts through a pipe as MessagePack; the pipe
holds little, so the reader runs at most a batch or two ahead and memory stays
bounded. A small replay, or a ledger another process could not open (in memory), is
read in this process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from operator import attrgetter
from pathlib import Path
from typing import IO, Any

import msgspec

from adapters.fact_codec import FIELDS, TAGS
from adapters.fast_facts import facts_of
from app.ledger import Ledger
from projections.facts import Fact

# From this many events to read, a replay starts a reader process (about a second).
PROCESS_THRESHOLD = 100_000
STOP_SECONDS = 5.0

FactBatch = tuple[list[tuple[str, Fact]], int, int]
"""(scanRef, fact) pairs in ledger order, the last position read, the events read."""


class ReadFailedError(Exception):
    """The reader process could not read the ledger; the text says why."""


class Request(msgspec.Struct, array_like=True):
    env: dict[str, str]
    start: int
    batch_size: int


class Batch(msgspec.Struct, array_like=True):
    last: int = 0
    count: int = 0
    rows: list[list[Any]] = []
    error: str | None = None


_values = attrgetter(*FIELDS)
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Batch)


def read_here(ledger: Ledger, start: int, batch_size: int) -> Iterator[FactBatch]:
    """The batches after ``start``, read in this process."""
    position = start
    while True:
        notifications = ledger.recorder.select_notifications(
            start=position, limit=batch_size, inclusive_of_start=False
        )
        if not notifications:
            return
        position = notifications[-1].id
        yield facts_of(ledger.mapper, notifications), position, len(notifications)
        if len(notifications) < batch_size:
            return


def fact_batches(ledger: Ledger, start: int, batch_size: int, head: int) -> Iterator[FactBatch]:
    """The batches after ``start``: from a reader process when there are many."""
    if head - start >= PROCESS_THRESHOLD and _readable_elsewhere(ledger):
        return read_in_process(dict(ledger.env), start, batch_size)
    return read_here(ledger, start, batch_size)


def _readable_elsewhere(ledger: Ledger) -> bool:
    """Whether another process can open this ledger's store from its settings."""
    module = ledger.env.get("PERSISTENCE_MODULE", "")
    if "Postgres" in module:
        return True
    name = ledger.env.get("SQLITE_DBNAME", "")
    in_memory = ":memory:" in name or "mode=memory" in name
    return "SQLite" in module and bool(name) and not in_memory


def read_in_process(env: dict[str, str], start: int, batch_size: int) -> Iterator[FactBatch]:
    """The batches after ``start``, read by a process started for it.

    The process runs this module (``python -m app.replay_reader``) with the same
    interpreter and code; it gets the store's settings on its standard input, so that
    no key or password shows in a process list, and answers on its standard output.
    """
    code = str(Path(__file__).resolve().parent.parent)
    paths = [code, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    process = subprocess.Popen(
        [sys.executable, "-m", "app.replay_reader"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        with process.stdin:
            process.stdin.write(_encoder.encode(Request(env, start, batch_size)))
        while True:
            batch = _receive(process.stdout)
            if batch.error is not None:
                raise ReadFailedError(batch.error)
            if not batch.count:
                return
            yield [(row[0], _fact(row)) for row in batch.rows], batch.last, batch.count
    finally:
        process.stdout.close()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _receive(stream: IO[bytes]) -> Batch:
    header = stream.read(4)
    if len(header) < 4:
        raise ReadFailedError("the replay's reader process stopped unexpectedly")
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    if len(data) < size:
        raise ReadFailedError("the replay's reader process stopped unexpectedly")
    return _decoder.decode(data)


def _fact(row: list[Any]) -> Fact:
    for index in TAGS:
        row[index + 1] = tuple(row[index + 1])
    return Fact(*row[1:])


def _send(stream: IO[bytes], batch: Batch) -> None:
    data = _encoder.encode(batch)
    stream.write(len(data).to_bytes(4, "big"))
    stream.write(data)
    stream.flush()


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
        for facts, last, count in read_here(ledger, request.start, request.batch_size):
            rows = [[scan_ref, *_values(fact)] for scan_ref, fact in facts]
            _send(out, Batch(last, count, rows))
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
