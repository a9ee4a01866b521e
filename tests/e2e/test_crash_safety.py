"""``ledger serve`` killed again and again under ``ledger simulate``: nothing lost, nothing doubled.

The simulator retries like iDenfy (every 0.5 s, ten times), and the service is
restarted on the same port within that window, so every delivery is acknowledged
in the end. Afterwards the event store holds each distinct delivery exactly once,
where its answer said, and the projections read exactly as a replay rebuilds them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from app.bootstrap import bootstrap
from app.cli.scenarios import Planned, plan
from app.config import load
from app.service.services import Services
from domain.verification import Verification
from tests.support.process import (
    LEDGER,
    STOP_SECONDS,
    Launcher,
    RunningService,
    clean_environment,
    free_port,
)
from tests.support.scenario import assert_views_follow_the_rules
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

SCENARIO = "day"
COUNT = 900
SEED = 20261125
KILLS = 3
EVENTS_BETWEEN_KILLS = 250
PROGRESS_SECONDS = 60.0
SIMULATE_SECONDS = 180.0
CATCH_UP_SECONDS = 60.0
BACKEND = {"Authorization": f"Bearer {API_TOKENS['backend']}"}


class Server:
    """``ledger serve`` on one fixed port, started again after each kill."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.launcher = Launcher(logs)

    def start(self) -> RunningService:
        return self.launcher.start(self.env, port=self.port)

    def close(self) -> None:
        self.launcher.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(environment(database_url), tmp_path)
    yield running
    running.close()


def simulate(url: str, report: Path, logs: Path) -> subprocess.Popen[bytes]:
    command = [
        str(LEDGER), "simulate", "--url", url, "--key", SIGNING_KEYS[0],
        "--scenario", SCENARIO, "--count", str(COUNT), "--seed", str(SEED),
        "--retry-delay", "0.5", "--concurrency", "8", "--report", str(report),
    ]  # fmt: skip
    with (logs / "simulate.stdout").open("wb") as out, (logs / "simulate.stderr").open("wb") as err:
        return subprocess.Popen(
            command, env=clean_environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )


def ledger_position(client: httpx2.Client, url: str) -> int | None:
    """The ledger's head as ``/readyz`` reports it, or None while nobody answers."""
    try:
        answer = client.get(f"{url}/readyz").json()
    except (httpx2.TransportError, ValueError):
        return None
    position = answer.get("position")
    return position if isinstance(position, int) else None


def wait_for_position(url: str, wanted: int, simulator: subprocess.Popen[bytes]) -> None:
    with httpx2.Client(timeout=2.0) as client:

        def reached() -> bool:
            if (ledger_position(client, url) or 0) >= wanted:
                return True
            assert simulator.poll() is None, (
                f"simulate ended (exit {simulator.returncode}) before position {wanted}:"
                " raise COUNT so that every kill happens mid-stream"
            )
            return False

        wait_until(
            reached, PROGRESS_SECONDS, f"the ledger did not reach position {wanted}", every=0.02
        )


def status_documents(url: str, head: int) -> list[dict[str, Any]]:
    """Every status document, page by page, once the views have seen ``head``."""
    documents: list[dict[str, Any]] = []
    after: str | None = None
    with httpx2.Client(base_url=url, headers=BACKEND, timeout=30.0) as client:
        for _ in range(COUNT):  # far more pages than there can be
            params: dict[str, str | int] = {"limit": 500, "minPosition": head}
            if after is not None:
                params["after"] = after
            response = client.get("/verifications", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            documents.extend(page["items"])
            after = page["next"]
            if after is None:
                return documents
    raise AssertionError("the list of verifications never ended")


def stored_events(services: Services, scan_refs: set[str]) -> dict[str, list[Verification.Event]]:
    histories: dict[str, list[Verification.Event]] = {}
    for scan_ref in scan_refs:
        events = list(services.ledger.history(scan_ref))
        histories[scan_ref] = [e for e in events if isinstance(e, Verification.Event)]
    return histories


def notification_count(services: Services) -> int:
    count, start = 0, 0
    while notifications := services.ledger.recorder.select_notifications(
        start=start, limit=1000, inclusive_of_start=False
    ):
        count += len(notifications)
        start = notifications[-1].id
    return count


def test_acknowledged_deliveries_survive_repeated_kills_once_each_and_project_like_a_replay(
    server: Server, database_url: str, tmp_path: Path
) -> None:
    planned = plan(SCENARIO, COUNT, SEED)
    distinct = {(p.scan_ref, p.kind, p.body) for p in planned}
    assert len(distinct) > KILLS * EVENTS_BETWEEN_KILLS + 300, "the plan is too small"
    service = server.start()
    report = tmp_path / "report.ndjson"
    simulator = simulate(server.url, report, tmp_path)
    try:
        for kill in range(1, KILLS + 1):
            wait_for_position(server.url, kill * EVENTS_BETWEEN_KILLS, simulator)
            service.kill()
            service = server.start()
        exit_status = simulator.wait(timeout=SIMULATE_SECONDS)
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait(timeout=STOP_SECONDS)
    totals = json.loads((tmp_path / "simulate.stdout").read_text())
    assert exit_status == 0, (tmp_path / "simulate.stderr").read_text()
    assert totals["unacknowledged"] == 0
    assert totals["retried"] > 0, "no delivery was in flight at any kill"

    outcomes = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(outcomes) == len(planned)
    recorded = [(o["scanRef"], o["sequence"]) for o in outcomes if o["result"] == "recorded"]
    assert len(recorded) == len(set(recorded)), "two deliveries were told the same place"

    services = bootstrap(load(environment(database_url)), create_tables=False)
    try:
        histories = stored_events(services, {p.scan_ref for p in planned})
        assert_each_distinct_delivery_is_stored_once(planned, outcomes, histories)
        assert notification_count(services) == len(distinct)
        head = services.ledger.recorder.max_notification_id() or 0
        before = status_documents(server.url, head)
        assert len(before) == len({p.scan_ref for p in planned})
        replayed = subprocess.run(
            [str(LEDGER), "replay"],
            env=clean_environment(environment(database_url)),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=SIMULATE_SECONDS,
            check=False,
        )
        assert replayed.returncode == 0, replayed.stderr
        assert "0 verifications changed status" in replayed.stdout
        assert status_documents(server.url, head) == before
    finally:
        services.close()
    services = bootstrap(load(environment(database_url)), create_tables=False)
    try:
        assert_views_follow_the_rules(services)
    finally:
        services.close()
    service.stop()


def assert_each_distinct_delivery_is_stored_once(
    planned: list[Planned],
    outcomes: list[dict[str, Any]],
    histories: dict[str, list[Verification.Event]],
) -> None:
    for scan_ref, events in histories.items():
        versions = [event.originator_version for event in events]
        assert versions == list(range(1, len(events) + 1)), scan_ref
        kept = Counter((e.kind, e.payload) for e in events if isinstance(e, Verification.Reported))
        assert len(kept) == len(events), f"{scan_ref}: an event that is not a delivery, or twice"
        assert max(kept.values()) == 1, f"{scan_ref}: a delivery stored twice"
    stored = {
        (ref, e.kind, e.payload) for ref, events in histories.items() for e in events
        if isinstance(e, Verification.Reported)
    }  # fmt: skip
    assert stored == {(p.scan_ref, p.kind, p.body) for p in planned}
    for sent, outcome in zip(planned, outcomes, strict=True):
        assert (outcome["scanRef"], outcome["kind"]) == (sent.scan_ref, sent.kind)
        assert outcome["result"] in ("recorded", "duplicate"), outcome
        event = histories[sent.scan_ref][outcome["sequence"] - 1]
        assert isinstance(event, Verification.Reported)
        assert (event.kind, event.payload) == (sent.kind, sent.body), outcome
        assert event.payload_sha256 == hashlib.sha256(sent.body).hexdigest()
