"""Several ``ledger`` processes over one database, as the README's scaling-out section runs them.

``Topology`` starts services (through ``Launcher``), ``ledger project`` workers,
``ledger simulate`` runs and one-off commands, keeps each one's output in files,
and ends every process it started (uvicorn's worker children included). The
PostgreSQL helpers read who holds a projection's advisory lock from ``pg_locks``
and, through ``/proc``, which of the started processes owns that connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from adapters.leadership import lock_key
from adapters.persistence import PostgresLocation, parse_database_url
from tests.support.process import (
    LEDGER,
    STOP_SECONDS,
    Launcher,
    RunningService,
    Subprocess,
    children_of,
    clean_environment,
)
from tests.support.settings import environment


@dataclass(kw_only=True)
class Started(Subprocess):
    """One ``ledger`` subprocess other than a service."""

    name: str

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines of its stderr (other lines are left out)."""
        lines = []
        for line in self.stderr().splitlines():
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if isinstance(parsed, dict):
                    lines.append(parsed)
        return lines


def leading(started: Started) -> dict[str, str]:
    """The projections ``started`` logged it took the lead of, with the time of each line."""
    found: dict[str, str] = {}
    for line in started.log_lines():
        message = str(line.get("message", ""))
        if message.startswith("projection ") and message.endswith(": leading"):
            found[message.removeprefix("projection ").removesuffix(": leading")] = line["time"]
    return found


class Topology:
    """The ``ledger`` processes of one test, all on one database, all ended by ``close()``."""

    def __init__(self, database_url: str, logs: Path, **extra: str) -> None:
        self.database_url = database_url
        self.environ = environment(database_url, **extra)
        self.logs = logs
        self.launcher = Launcher(logs)
        self.started: list[Started] = []
        self.children: set[int] = set()

    def serve(self, *args: str) -> RunningService:
        """``ledger serve *args``, once it answers ``/healthz``."""
        return self.launcher.start(self.environ, args=args)

    def project(self) -> Started:
        return self._start("project", ["project"])

    def simulate(self, url: str, key: str, *args: str) -> Started:
        return self._start("simulate", ["simulate", "--url", url, "--key", key, *args])

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """A one-off command (``ledger replay``...), to its end."""
        return subprocess.run(
            [str(LEDGER), *args],
            env=clean_environment(self.environ),
            cwd=self.logs,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _start(self, name: str, args: Sequence[str]) -> Started:
        number = len(self.started) + 1
        stdout_path = self.logs / f"{name}-{number}.stdout"
        stderr_path = self.logs / f"{name}-{number}.stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [str(LEDGER), *args],
                env=clean_environment(self.environ),
                cwd=self.logs,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        started = Started(
            name=f"{name}-{number}",
            process=process,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
        )
        self.started.append(started)
        return started

    def stop_services(self) -> list[int]:
        """SIGTERM every service (uvicorn stops its workers too); their exit statuses."""
        statuses = []
        for service in self.launcher.started:
            self.children.update(children_of(service.pid))
            statuses.append(service.stop())
        return statuses

    def close(self) -> None:
        for started in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.kill()
        for service in self.launcher.started:
            self.children.update(children_of(service.pid))
            if service.process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.stop()
        self.launcher.close()
        for child in self.children:
            # A worker whose parent was killed outright; gone already in a clean stop.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


# PostgreSQL: who holds a projection's lead.


@dataclass(frozen=True)
class Holder:
    """A session holding an advisory lock: its server pid and its client's TCP port."""

    backend_pid: int
    client_port: int | None


def postgres_location(database_url: str) -> PostgresLocation:
    location = parse_database_url(database_url)
    assert isinstance(location, PostgresLocation)
    return location


def lock_keys(database_url: str, names: Iterable[str]) -> dict[int, str]:
    """The advisory-lock key of each projection, as the workers derive it."""
    location = postgres_location(database_url)
    return {lock_key(location.schema or "public", name): name for name in names}


def lock_holders(
    connection: psycopg.Connection[tuple[Any, ...]], keys: Mapping[int, str]
) -> dict[str, list[Holder]]:
    """The sessions holding each projection's advisory lock, from ``pg_locks``."""
    rows = connection.execute(
        "SELECT l.classid::bigint, l.objid::bigint, l.pid, a.client_port"
        " FROM pg_locks AS l LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchall()
    held: dict[str, list[Holder]] = {name: [] for name in keys.values()}
    for classid, objid, pid, port in rows:
        unsigned = (int(classid) << 32) | int(objid)
        key = unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned
        if key in keys:
            held[keys[key]].append(Holder(int(pid), None if port in (None, -1) else int(port)))
    return held


def owner_of(holder: Holder, candidates: Iterable[Started]) -> Started | None:
    """Which of ``candidates`` owns the client end of ``holder``'s connection (via /proc)."""
    if holder.client_port is None:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == holder.client_port:
                    inodes.add(f"socket:[{fields[9]}]")
    for candidate in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{candidate.pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return candidate
    return None


class LockWatch:
    """Polls ``pg_locks`` on a thread of its own: how often, and every moment two held a lead."""

    def __init__(self, database_url: str, keys: Mapping[int, str], every: float = 0.02) -> None:
        self.conninfo = postgres_location(database_url).conninfo()
        self.keys = keys
        self.every = every
        self.polls = 0
        self.doubled: list[dict[str, list[Holder]]] = []
        self.holders: dict[str, set[Holder]] = {name: set() for name in keys.values()}
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="lock-watch")

    def __enter__(self) -> LockWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=STOP_SECONDS)

    def check(self) -> None:
        """Fail if watching itself failed (a watch that saw nothing proves nothing)."""
        if self.error is not None:
            raise AssertionError(f"watching pg_locks failed: {self.error!r}") from self.error

    def _watch(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as connection:
                while not self.stopping.wait(self.every):
                    held = lock_holders(connection, self.keys)
                    self.polls += 1
                    if any(len(holders) > 1 for holders in held.values()):
                        self.doubled.append(held)
                    for name, holders in held.items():
                        self.holders[name].update(holders)
        except BaseException as error:  # reported by stop(), in the test's thread
            self.error = error
