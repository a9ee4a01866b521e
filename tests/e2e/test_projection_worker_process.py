"""``ledger project`` killed mid-stream and started again ends with the same views.

Thousands of events are recorded first, straight through a ``Ledger``; then a
projection worker process follows them in small batches, is SIGKILLed part of the
way through (most likely inside a batch: that is where it spends its time), and a
second one finishes the job from the tracking records the first left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.service.ledger import Ledger
from app.service.replay import replay
from app.service.services import Services
from tests.support.scenario import (
    expected,
    head,
    ledger_facts,
    scenario,
    snapshot,
    tell,
)
from tests.support.settings import environment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

LEDGER = Path(sys.executable).parent / "ledger"
DEADLINE_SECONDS = 60.0
POLL_SECONDS = 0.005
STOP_SECONDS = 15.0
OWN_PREFIXES = ("LEDGER_", "IDENFY_")


class WorkerProcesses:
    """``ledger project`` processes started by a test; any still running are killed."""

    def __init__(self, database_url: str, logs: Path) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
        self.environ = inherited | environment(database_url)
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        number = len(self.started) + 1
        with (self.logs / f"project-{number}.stderr").open("wb") as err:
            process = subprocess.Popen(
                [str(LEDGER), "project", *options],
                env=self.environ,
                cwd=self.logs,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.started.append(process)
        return process

    def stderr(self, number: int) -> str:
        return (self.logs / f"project-{number}.stderr").read_text(errors="replace")

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_SECONDS)


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(database_url, tmp_path)
    try:
        yield processes
    finally:
        processes.kill_all()


def tracked(services: Services) -> list[int]:
    return [view.max_tracking_id(Ledger.name) or 0 for view in services.views.all()]


def wait_for_positions(
    services: Services,
    process: subprocess.Popen[bytes],
    reached: Callable[[list[int]], bool],
) -> list[int]:
    """Poll the views' tracking records until ``reached``; their positions then."""
    seen: list[list[int]] = []

    def there() -> list[int] | None:
        positions = tracked(services)
        seen.append(positions)
        if reached(positions):
            return positions
        assert process.poll() is None, f"ledger project exited with {process.returncode}"
        return None

    found = wait_until(
        there, DEADLINE_SECONDS, lambda: f"the views stopped at {seen[-1]}", every=POLL_SECONDS
    )
    assert found is not None
    return found


def test_a_worker_killed_mid_stream_and_restarted_ends_with_the_same_views(
    services: Services, workers: WorkerProcesses
) -> None:
    for step in scenario(seed=21, count=1200, prefix="kill"):
        tell(services.ledger, step)
    end = head(services.ledger)
    assert end >= 2500

    first = workers.start("--batch-size", "40")
    wait_for_positions(services, first, lambda positions: max(positions) >= end // 3)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=STOP_SECONDS) == -signal.SIGKILL
    at_kill = tracked(services)
    assert min(at_kill) < end, f"the first worker finished ({at_kill}) before it was killed"
    assert len(set(at_kill)) == 1, f"the views' batches did not commit together: {at_kill}"

    second = workers.start()
    wait_for_positions(services, second, lambda positions: min(positions) >= end)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=STOP_SECONDS) == 0, workers.stderr(2)

    projected = snapshot(services.views)
    assert projected == expected(services.ledger)
    facts = ledger_facts(services.ledger)
    assert {d["scanRef"]: d["events"] for d in projected.documents} == {
        ref: len(f) for ref, f in facts.items()
    }
    refs_of: dict[str, set[str]] = defaultdict(set)
    for ref, verification_facts in facts.items():
        client_id = next(f.client_id for f in verification_facts if f.client_id)
        assert client_id is not None
        refs_of[client_id].add(ref)
    assert {
        client_id: totals["verifications"] if totals else None
        for client_id, totals in projected.clients.items()
    } == {client_id: len(refs) for client_id, refs in refs_of.items()}

    summary = replay(services.ledger, services.views.sql, drop_grace=0)

    assert summary.status_changed == 0
    assert snapshot(services.views) == projected
