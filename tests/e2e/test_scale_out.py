"""The README's scaled-out deployment on one PostgreSQL database, and its leader killed.

Two ``ledger serve --no-projections`` processes (one with ``--workers 2``) take
simulated deliveries, the same day's deliveries racing through both, while two
``ledger project`` processes share the projections: the first leads them all,
the second stands by. The leader is SIGKILLed mid-stream. In the end the ledger
holds exactly the events one process would have recorded, the standby has taken
over within seconds, and the views equal a replay into new tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest

from adapters.idenfy import PATH_KINDS
from app.bootstrap import bootstrap, open_ledger
from app.cli.main import prepare_store
from app.cli.scenarios import plan
from app.config import Settings, load
from app.service.workers import PROJECTIONS
from domain.verification import Verification
from projections.facts import fact_of
from tests.support.process import CLEAN_STOP, RunningService
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment
from tests.support.topology import (
    LockWatch,
    Started,
    Topology,
    leading,
    lock_holders,
    lock_keys,
    owner_of,
    postgres_location,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.process, pytest.mark.postgres]

COUNT = 100
RACED_SEED = 11  # sent through both services at once
SECOND_SEED = 12  # sent through the service with two workers only
START_SECONDS = 20.0
TAKEOVER_SECONDS = 5.0
RUN_SECONDS = 120.0
CATCH_UP_SECONDS = 30.0
ADMIN = {"Authorization": f"Bearer {API_TOKENS['admin']}"}
RACERS = 4

Delivered = tuple[str, str, str]  # scanRef, kind, payload SHA-256


@pytest.fixture
def topology(postgres_url: str, tmp_path: Path) -> Iterator[Topology]:
    started = Topology(postgres_url, tmp_path)
    yield started
    started.close()


def planned_events() -> set[Delivered]:
    """The distinct (kind, bytes) deliveries of every simulate run: one event each."""
    return {
        (p.scan_ref, PATH_KINDS[p.kind].value, hashlib.sha256(p.body).hexdigest())
        for seed in (RACED_SEED, SECOND_SEED)
        for p in plan("day", COUNT, seed)
    }


def ready(service: RunningService) -> dict[str, Any]:
    answer: dict[str, Any] = httpx2.get(f"{service.url}/readyz", timeout=10.0).json()
    return answer


def tracked(service: RunningService) -> dict[str, int]:
    """How far each projection's view has got, by the service's ``/readyz``."""
    answer = ready(service)
    return {name: answer["position"] - lag for name, lag in answer["projectionLag"].items()}


def caught_up(service: RunningService) -> bool:
    return set(ready(service)["projectionLag"].values()) == {0}


def simulate(
    topology: Topology, service: RunningService, seed: int, key: str, concurrency: int
) -> Started:
    return topology.simulate(
        service.url, key,
        "--seed", str(seed), "--count", str(COUNT), "--concurrency", str(concurrency),
    )  # fmt: skip


def log_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def leads_all(
    connection: psycopg.Connection[tuple[Any, ...]],
    keys: dict[int, str],
    worker: Started,
    others: list[Started],
) -> bool:
    """Whether ``worker`` says it leads every projection and holds each one's lock alone."""
    if set(leading(worker)) != set(PROJECTIONS):
        return False
    holders = lock_holders(connection, keys)
    return all(
        len(held) == 1 and owner_of(held[0], [worker, *others]) in (worker, None)
        for held in holders.values()
    )


def recorded_events(topology: Topology) -> list[tuple[str, int, Delivered]]:
    """Every event in the ledger, in ledger order: (verification id, version, delivery)."""
    ledger = open_ledger(load(topology.environ), create_tables=False)
    events = []
    try:
        start = 0
        while notifications := ledger.recorder.select_notifications(
            start=start, limit=1000, inclusive_of_start=False
        ):
            for notification in notifications:
                event = ledger.mapper.to_domain_event(notification)
                assert isinstance(event, Verification.Event)
                fact = fact_of(event, notification.id)
                assert fact.payload_sha256 is not None
                delivered = (event.scan_ref, fact.kind, fact.payload_sha256)
                events.append(
                    (str(notification.originator_id), notification.originator_version, delivered)
                )
            start = notifications[-1].id
    finally:
        ledger.close()
    return events


def read_everything(service: RunningService, head: int) -> dict[str, Any]:
    """Every status document, timeline and client total the service answers, as of ``head``."""
    at = {"minPosition": str(head)}
    with httpx2.Client(base_url=service.url, timeout=30.0, headers=ADMIN) as client:
        documents: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = client.get("/verifications", params={**at, "limit": "500", "after": after or ""})
            assert page.status_code == 200, page.text
            documents.extend(page.json()["items"])
            after = page.json()["next"]
            if after is None:
                break
        timelines = {}
        for doc in documents:
            timeline = client.get(f"/verifications/{doc['scanRef']}/timeline", params=at)
            assert timeline.status_code == 200, timeline.text
            timelines[doc["scanRef"]] = timeline.json()
        clients = {}
        for client_id in sorted({doc["clientId"] for doc in documents}):
            totals = client.get(f"/clients/{client_id}", params=at)
            assert totals.status_code == 200, totals.text
            clients[client_id] = totals.json()
    return {"documents": documents, "timelines": timelines, "clients": clients}


def test_scaled_out_processes_record_every_delivery_once_and_a_standby_takes_over_the_views(
    topology: Topology, postgres_url: str
) -> None:
    keys = lock_keys(postgres_url, PROJECTIONS)
    web = topology.serve("--no-projections", "--workers", "2")
    api = topology.serve("--no-projections")
    first = topology.project()
    watching = psycopg.connect(postgres_location(postgres_url).conninfo(), autocommit=True)
    with watching, LockWatch(postgres_url, keys) as watch:
        wait_until(lambda: leads_all(watching, keys, first, []), START_SECONDS, "a first leader")
        second = topology.project()
        wait_until(lambda: "projecting" in second.stderr(), START_SECONDS, "a standby")

        runs = [
            # At different speeds, so that one overtakes the other on the same deliveries.
            simulate(topology, api, RACED_SEED, SIGNING_KEYS[1], concurrency=2),
            simulate(topology, web, RACED_SEED, SIGNING_KEYS[0], concurrency=8),
            simulate(topology, web, SECOND_SEED, SIGNING_KEYS[0], concurrency=4),
        ]
        expected = planned_events()
        # A quarter of the deliveries recorded, and the leader projecting them: the rest
        # still arrives after the kill.
        wait_until(
            lambda: ready(api)["position"] >= len(expected) // 4 and min(tracked(api).values()) > 0,
            RUN_SECONDS,
            "a quarter of the deliveries recorded and some projected",
        )

        # The leader hangs, then dies, while deliveries still arrive: what it had not
        # projected by then is the standby's to do.
        assert leads_all(watching, keys, first, [second])
        assert leading(second) == {}
        os.kill(first.process.pid, signal.SIGSTOP)
        # From here the leader projects nothing: deliveries must still be arriving.
        assert any(run.process.poll() is None for run in runs), "the deliveries ended too soon"
        wait_until(
            lambda: ready(api)["position"] > max(tracked(api).values()),
            RUN_SECONDS,
            "deliveries recorded that the hung leader has not projected",
        )
        at_kill = tracked(api)
        killed_at = time.time()
        assert first.kill() == -signal.SIGKILL
        killed = time.monotonic()

        wait_until(
            lambda: leads_all(watching, keys, second, [first]),
            TAKEOVER_SECONDS,
            "the standby leading every projection",
        )
        takeover = time.monotonic() - killed
        assert all(log_time(stamp) >= killed_at - 0.001 for stamp in leading(second).values())

        summaries = []
        for run in runs:
            assert run.process.wait(timeout=RUN_SECONDS) == 0, run.stderr()
            summaries.append(json.loads(run.stdout()))
        head = ready(api)["position"]
        for service in (web, api):
            wait_until(partial(caught_up, service), CATCH_UP_SECONDS, "the standby catching up")
    watch.check()

    # Never two leads at once, and a takeover within seconds that kept the views moving.
    assert watch.polls > 50
    assert watch.doubled == []
    assert all(len(holders) == 2 for holders in watch.holders.values()), watch.holders
    assert takeover < TAKEOVER_SECONDS
    # The standby projected what the dead leader had not. (Whether deliveries were still
    # recorded after the kill depends on how fast the services took them, and recording
    # does not depend on the projections' leader: only that some were still being sent.)
    assert all(tracked(api)[name] == head > at_kill[name] for name in PROJECTIONS)

    # The ledger: every planned delivery once, versions without gaps or doubles.
    assert all(s["unacknowledged"] == 0 and s["acknowledged"] == s["sent"] for s in summaries)
    events = recorded_events(topology)
    assert Counter(delivered for _, _, delivered in events) == Counter(expected)
    versions: dict[str, list[int]] = defaultdict(list)
    for originator, version, _ in events:
        versions[originator].append(version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    recorded = sum(s["results"].get("recorded", 0) for s in summaries)
    retried = sum(s["retried"] for s in summaries)
    assert recorded <= len(events) <= recorded + retried

    # The views the standby finished equal a replay into new tables.
    before = read_everything(api, head)
    assert len(before["documents"]) == len(versions)
    assert {d["scanRef"]: d["events"] for d in before["documents"]} == dict(
        Counter(scan_ref for _, _, (scan_ref, _, _) in events)
    )
    replayed = topology.run("replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "0 verifications changed status" in replayed.stdout
    after = read_everything(web, head)
    assert after == before

    for service in (web, api):
        answer = httpx2.get(f"{service.url}/readyz", timeout=10.0)
        assert answer.status_code == 200, answer.text
    assert all(status in CLEAN_STOP for status in topology.stop_services())
    second.process.terminate()
    assert second.process.wait(timeout=RUN_SECONDS) == 0, second.stderr()
    with psycopg.connect(postgres_location(postgres_url).conninfo()) as connection:
        assert lock_holders(connection, keys) == {name: [] for name in PROJECTIONS}


# Starting together. Machines that boot at once start their `ledger serve` and `ledger
# project` processes at the same moment, and each `ledger serve --workers N` starts N
# workers at once. Threads released by one barrier stand for them here: each runs what
# such a process runs first, against one fresh database.


def together(step: Callable[[Settings], object], settings: Settings) -> list[str]:
    """Run ``step`` in ``RACERS`` threads released at once; what each failure was."""
    barrier = threading.Barrier(RACERS)
    failures: list[str] = []

    def race() -> None:
        barrier.wait()
        try:
            step(settings)
        except BaseException as error:  # SystemExit from the command's one-line failure too
            failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def prepared(settings: Settings) -> None:
    """What `ledger serve` and `ledger project` do first: create the ledger's and views' tables."""
    prepare_store(settings).datastore.close()


def worker_started(settings: Settings) -> None:
    """What each worker of `ledger serve --workers N` does first: open every store."""
    bootstrap(settings, create_tables=False).close()


def test_processes_starting_together_on_a_fresh_database_all_set_it_up(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load(environment(postgres_url))

    failures = together(prepared, settings)

    assert failures == [], capsys.readouterr().err


def test_the_workers_of_a_service_starting_together_all_open_the_store(postgres_url: str) -> None:
    settings = load(environment(postgres_url))
    prepared(settings)  # `ledger serve` itself, before it starts its workers

    failures = together(worker_started, settings)

    assert failures == []
