"""``ledger serve`` runs its projection workers in a child process of their own.

The child follows the server's deliveries, is replaced when it dies, and never
outlives the server: not when the server stops, and not when it is killed.
"""

from __future__ import annotations

import os
import signal
import time

import httpx2
import pytest

from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import (
    CLEAN_STOP,
    Launcher,
    RunningService,
    child_of,
    children_of,
    command_line,
    wait_until_gone,
)
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

FIND_SECONDS = 20.0
READ_SECONDS = 10.0


def projector_of(service: RunningService, orphans: list[int], but: int | None = None) -> int:
    """The server's projection process (other than ``but``)."""
    return child_of(service, orphans, "projections", but)


def deliver_and_read(service: RunningService, number: int) -> dict[str, object]:
    """Post a delivery, then read its status with the ``minPosition`` it was given."""
    scan_ref = f"proc-{number}-5a7d-11ef-9c2a-0242ac120002"
    raw = encode(result_body(scan_ref, finish_time=1718787742 + number))
    with httpx2.Client(base_url=service.url, timeout=READ_SECONDS + 5) as client:
        answer = client.post(
            "/webhooks/idenfy/auto-finished",
            content=raw,
            headers=signed_headers(raw, SIGNING_KEYS[0]),
        )
        assert answer.status_code == 200, answer.text
        read = client.get(
            f"/verifications/{scan_ref}",
            params={"minPosition": answer.json()["position"]},
            headers={"Authorization": f"Bearer {API_TOKENS['backend']}"},
        )
    assert read.status_code == 200, read.text
    document: dict[str, object] = read.json()
    return document


def test_the_server_projects_in_a_child_process_that_is_replaced_when_it_dies(
    launcher: Launcher, database_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(database_url))
    first = projector_of(service, orphans)
    assert deliver_and_read(service, 1)["events"] == 1

    os.kill(first, signal.SIGKILL)
    assert wait_until_gone(first)
    second = projector_of(service, orphans, but=first)

    assert second != first
    assert deliver_and_read(service, 2)["events"] == 1
    assert service.stop() in CLEAN_STOP, service.stderr()
    assert wait_until_gone(second)
    assert "the projection process exited" in service.stderr()


def test_the_projection_process_ignores_signals_and_ends_with_its_server(
    launcher: Launcher, database_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(database_url))
    projector = projector_of(service, orphans)
    wait_until(lambda: "audit_timeline: leading" in service.stderr(), FIND_SECONDS, service.stderr)

    for number in (signal.SIGTERM, signal.SIGINT):
        os.kill(projector, number)
    assert deliver_and_read(service, 3)["events"] == 1
    assert projector_of(service, orphans) == projector

    assert service.kill() == -signal.SIGKILL
    assert wait_until_gone(projector), "the projection process outlived its server"


def test_no_projections_runs_no_projection_process(
    launcher: Launcher, sqlite_url: str, orphans: list[int]
) -> None:
    service = launcher.start(environment(sqlite_url), args=["--no-projections"])
    time.sleep(0.5)  # long enough for a child to have been started, were there one
    assert not [pid for pid in children_of(service.pid) if "projection" in command_line(pid)]
    assert service.stop() in CLEAN_STOP
