"""``ledger serve`` on PostgreSQL with its writer process: no writer outlives its server."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx2
import pytest

from app.bootstrap import open_ledger
from app.config import load
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import (
    CLEAN_STOP,
    Launcher,
    RunningService,
    child_of,
    command_line,
    is_running,
    wait_until_gone,
)
from tests.support.settings import SIGNING_KEYS, environment
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.process, pytest.mark.postgres]

SCAN_REF = "writer-e2e-5a7d-11ef-9c2a-0242ac120002"
EXIT_SECONDS = 5.0
FIND_SECONDS = 10.0


def writer_of(service: RunningService, orphans: list[int]) -> int:
    """The server's writer process: its one child running ``app.service.writer``."""
    return child_of(service, orphans, "writer")


def post(service: RunningService, n: int = 0) -> httpx2.Response:
    raw = encode(result_body(SCAN_REF, finish_time=1718787742 + n))
    headers = signed_headers(raw, SIGNING_KEYS[0])
    with httpx2.Client(base_url=service.url, timeout=10.0) as client:
        return client.post("/webhooks/idenfy/auto-finished", content=raw, headers=headers)


def post_a_delivery(service: RunningService, n: int = 0) -> dict[str, object]:
    response = post(service, n)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def listening_sockets(port: int) -> set[str]:
    """The inodes of the sockets listening on ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rpartition(":")[2], 16) == port:
                    found.add(inode)
    return found


def open_sockets(pid: int) -> set[str]:
    """The inodes of the sockets ``pid`` holds open."""
    found: set[str] = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(descriptor)
            if target.startswith("socket:["):
                found.add(target.removeprefix("socket:[").removesuffix("]"))
    return found


def stored_payloads(postgres_url: str) -> list[bytes]:
    ledger = open_ledger(load(environment(postgres_url)), create_tables=False)
    try:
        events = ledger.history(SCAN_REF)
        return [e.payload for e in events if isinstance(e, Verification.Reported)]
    finally:
        ledger.close()


def test_the_writer_process_of_a_killed_server_exits_by_itself(
    launcher: Launcher, postgres_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(postgres_url), args=["--no-projections"])
    writer = writer_of(service, orphans)
    assert command_line(writer)[1:4] == ["-m", "app.processes", "writer"]
    answer = post_a_delivery(service)
    assert (answer["result"], answer["sequence"]) == ("recorded", 1)
    assert is_running(writer)

    assert service.kill() == -signal.SIGKILL
    assert wait_until_gone(writer), f"writer process {writer} outlived its killed server"
    assert stored_payloads(postgres_url) == [encode(result_body(SCAN_REF))]


def test_the_writer_process_of_a_server_stopped_gracefully_exits_with_it(
    launcher: Launcher, postgres_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(postgres_url), args=["--no-projections"])
    writer = writer_of(service, orphans)
    answers = [post_a_delivery(service, n) for n in range(3)]
    assert [answer["sequence"] for answer in answers] == [1, 2, 3]

    assert service.stop() in CLEAN_STOP, service.stderr()
    assert wait_until_gone(writer), f"writer process {writer} outlived its stopped server"
    assert len(stored_payloads(postgres_url)) == 3


def test_a_writer_process_sent_sigterm_keeps_serving_its_server(
    launcher: Launcher, postgres_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(postgres_url), args=["--no-projections"])
    writer = writer_of(service, orphans)
    os.kill(writer, signal.SIGTERM)
    time.sleep(0.5)
    assert is_running(writer)
    assert post_a_delivery(service)["result"] == "recorded"
    assert writer_of(service, orphans) == writer
    assert service.stop() in CLEAN_STOP, service.stderr()
    assert wait_until_gone(writer)


def test_a_writer_process_killed_under_its_server_is_replaced_and_never_holds_the_port(
    launcher: Launcher, postgres_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(postgres_url), args=["--no-projections"])
    listening = listening_sockets(int(service.url.rpartition(":")[2]))
    assert listening, "the server's listening socket was not found"
    assert open_sockets(service.pid) & listening
    writer = writer_of(service, orphans)
    assert not open_sockets(writer) & listening
    assert post_a_delivery(service)["result"] == "recorded"

    os.kill(writer, signal.SIGKILL)
    assert wait_until_gone(writer)
    statuses: list[int] = []

    def answered_200() -> bool:
        statuses.append(post(service, 1).status_code)
        return statuses[-1] == 200

    wait_until(
        answered_200,
        FIND_SECONDS,
        lambda: f"no 200 after the writer process died: {statuses}",
        every=0.1,
    )
    assert set(statuses) <= {200, 503}, statuses
    replacement = writer_of(service, orphans)
    assert replacement != writer
    assert not open_sockets(replacement) & listening
    assert len(stored_payloads(postgres_url)) == 2
    assert service.stop() in CLEAN_STOP, service.stderr()
    assert wait_until_gone(replacement)
