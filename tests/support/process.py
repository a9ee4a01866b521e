"""``ledger`` run as a real process: started, waited for, stopped or killed.

Each start gets a free port and its own stdout/stderr files, which are quoted when
the service does not come up, so a failing test says why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2

from tests.support.waiting import poll_until, wait_until

LEDGER = Path(sys.executable).parent / "ledger"
STARTUP_SECONDS = 20.0
STOP_SECONDS = 15.0
FIND_CHILD_SECONDS = 10.0
CHILD_EXIT_SECONDS = 5.0
OWN_PREFIXES = ("LEDGER_", "IDENFY_")
# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (uvicorn >= 0.29).
CLEAN_STOP = (0, -signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """The ids of a process's children (uvicorn's workers, multiprocessing's helpers, the
    ledger's writer process), whichever of its threads started them."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in listing.read_text().split())
    return found


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the ledger's own variables, plus ``extra``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    return inherited | dict(extra or {})


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").rstrip("\0").split("\0")


def is_running(pid: int) -> bool:
    """Whether ``pid`` is alive: neither gone nor a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def child_of(service: RunningService, orphans: list[int], role: str, but: int | None = None) -> int:
    """The server's one running child process of ``python -m app.processes role``
    (other than ``but``)."""

    def running() -> list[int]:
        found = [
            pid
            for pid in children_of(service.pid)
            if role in command_line(pid)[3:4] and pid != but and is_running(pid)
        ]
        assert found or service.process.poll() is None, service.stderr()
        return found

    found = wait_until(running, FIND_CHILD_SECONDS, f"no {role} process under {service.pid}")
    orphans.extend(found)
    assert len(found) == 1, found
    return found[0]


def wait_until_gone(pid: int, seconds: float = CHILD_EXIT_SECONDS) -> bool:
    """Whether ``pid`` ended (or was a zombie) within ``seconds``."""
    return poll_until(lambda: not is_running(pid), seconds)


@dataclass(kw_only=True)
class Subprocess:
    """A ``ledger`` subprocess, with the files its output goes to."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> int:
        """SIGKILL: no shutdown of any kind, as in a crash or an OOM kill; its exit status."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=STOP_SECONDS)


@dataclass(kw_only=True)
class RunningService(Subprocess):
    """One ``ledger serve`` process that answered ``/healthz``."""

    url: str

    def stop(self) -> int:
        """SIGTERM and wait, as an operator or a supervisor stops it; its exit status.

        A clean stop is one of ``CLEAN_STOP``.
        """
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


class ServiceDidNotStartError(AssertionError):
    """``ledger serve`` exited or stayed silent instead of answering ``/healthz``."""


class Launcher:
    """Starts ``ledger serve`` processes and kills whatever is left of them at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[RunningService] = []

    def start(
        self,
        environ: Mapping[str, str],
        *,
        args: Sequence[str] = (),
        cwd: Path | None = None,
        port: int | None = None,
    ) -> RunningService:
        """``ledger serve --port P *args`` with ``clean_environment(environ)``, once healthy;
        on a free port unless ``port`` is given."""
        number = len(self.started) + 1
        port = port or free_port()
        stdout_path = self.logs / f"serve-{number}.stdout"
        stderr_path = self.logs / f"serve-{number}.stderr"
        command = [str(LEDGER), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                command,
                env=clean_environment(environ),
                cwd=cwd or self.logs,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        service = RunningService(
            url=f"http://127.0.0.1:{port}",
            process=process,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
        )
        self.started.append(service)
        wait_until_healthy(service)
        return service

    def close(self) -> None:
        for service in self.started:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                service.kill()


def wait_until_healthy(service: RunningService, seconds: float = STARTUP_SECONDS) -> None:
    with httpx2.Client(timeout=2.0) as client:

        def healthy() -> bool:
            if service.process.poll() is not None:
                raise ServiceDidNotStartError(
                    f"ledger serve exited with {service.process.returncode}:\n{service.stderr()}"
                )
            with contextlib.suppress(httpx2.TransportError):
                if client.get(f"{service.url}/healthz").status_code == 200:
                    return True
            return False

        if not poll_until(healthy, seconds):
            service.kill()
            raise ServiceDidNotStartError(
                f"no answer from {service.url}/healthz in {seconds} s:\n{service.stderr()}"
            )
