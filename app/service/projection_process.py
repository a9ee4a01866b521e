"""The projection workers of ``ledger serve``, in a process of their own (ADR 12).

The server's event loop is one thread that holds the GIL for most of its time; the
workers' folding, beside it in the same process, took a quarter of its ingest. In a
child process they use the machine's other core and share nothing with the server
but the database. On SQLite the server's commits still wake them at once (a datagram
per commit, ``adapters.subscription``); on PostgreSQL its notifications do.

The child stops when the pipe from its parent closes: when ``ledger serve`` stops, and
when it dies, whatever killed it. It ignores SIGINT and SIGTERM, which a terminal or a
service manager sends to the whole process group, so that the parent decides when it
stops. If the child dies, the parent starts another after a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Mapping

from app.service.workers import ProjectionWorkers
from app.service.writer import CHILD

log = logging.getLogger("ledger.projections")

RESTART_DELAY_SECONDS = 1.0
STOP_SECONDS = 30.0


class ProjectionProcess:
    """A child process running the projection workers, restarted when it dies, until
    ``stop()``."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = dict(environ)
        self.stopping = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.pipe: int | None = None
        self.lock = threading.Lock()
        self.supervisor = threading.Thread(target=self._supervise, name="projection-process")

    def start(self) -> ProjectionProcess:
        self.supervisor.start()
        return self

    def stop(self) -> None:
        """Close the child's pipe, then wait for it to finish its batch and exit."""
        self.stopping.set()
        with self.lock:
            self._close_pipe()
        if self.supervisor.is_alive():
            self.supervisor.join()

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if self.stopping.is_set():
                    return
                try:
                    process = self._spawn()
                except OSError as error:
                    log.error("the projection process cannot start: %s", error)
                    self.stopping.wait(RESTART_DELAY_SECONDS)
                    continue
            try:
                code = process.wait()
            finally:
                with self.lock:
                    self._close_pipe()
            if self.stopping.is_set():
                return
            log.warning("the projection process exited with %s; starting another", code)
            self.stopping.wait(RESTART_DELAY_SECONDS)

    def _spawn(self) -> subprocess.Popen[bytes]:
        theirs, ours = os.pipe()
        try:
            self.process = subprocess.Popen(
                [*CHILD, "projections", str(theirs)],
                pass_fds=[theirs],
                env=self.environ,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(ours)
            raise
        finally:
            os.close(theirs)
        self.pipe = ours
        return self.process

    def _close_pipe(self) -> None:
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
        process = self.process
        if process is not None and self.stopping.is_set():
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("the projection process did not stop; killing it")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()


# The child.


def run(descriptor: int, workers: ProjectionWorkers) -> None:
    """Run ``workers`` until the parent's end of the pipe ``descriptor`` closes
    (``python -m app.processes projections``)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    workers.start()
    try:
        while os.read(descriptor, 4096):
            pass
    finally:
        workers.stop()
