"""A throwaway PostgreSQL cluster for the suite, from the machine's own binaries.

``LEDGER_TEST_DATABASE_URL`` names a server to use instead. When neither is
possible the PostgreSQL tests fail: they are never skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "LEDGER_TEST_DATABASE_URL"


def find_bindir() -> Path:
    explicit = os.environ.get("LEDGER_TEST_PG_BINDIR")
    candidates = [explicit] if explicit else sorted(glob.glob("/usr/lib/postgresql/*/bin"))[::-1]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("no PostgreSQL server binaries (initdb) found on this machine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One PostgreSQL server in a temporary folder, run as the postgres user under root."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        self.run = self.root / "run"
        self.as_root = os.geteuid() == 0

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout}")

    def init(self) -> None:
        for folder, mode in ((self.data, 0o700), (self.run, 0o755)):
            folder.mkdir(mode=mode)
            if self.as_root:
                shutil.chown(folder, "postgres", "postgres")
        os.chmod(self.root, 0o755)  # noqa: S103 (the postgres user must reach its folders)
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.run} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
            str(self.run / "postgres.log"), "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):
            cluster.stop("immediate")
        cluster.remove()


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    """A PostgreSQL URL for the whole session: the given one, or a throwaway cluster's."""
    given = os.environ.get(ENV_URL, "").strip()
    if given:
        yield given
        return
    with running_cluster() as cluster:
        yield cluster.url()
