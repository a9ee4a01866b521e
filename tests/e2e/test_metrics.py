"""``GET /metrics`` and the logs of a real ``ledger serve``, after a simulated day of deliveries.

On SQLite the service runs one process; on PostgreSQL it runs ``--workers 2``, so the
counters come from prometheus-client's multiprocess mode, added up over both workers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.durability import views_datastore
from adapters.idenfy import PATH_KINDS
from adapters.sql import Sql
from app.bootstrap import open_ledger
from app.cli.scenarios import plan
from app.config import load
from app.service.replay import replay
from app.service.workers import PROJECTIONS
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import CLEAN_STOP, RunningService
from tests.support.settings import API_TOKENS, SIGNING_KEYS
from tests.support.topology import Topology
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

SEED = 7
COUNT = 60
RUN_SECONDS = 60.0
CATCH_UP_SECONDS = 30.0
PROBE_REQUEST_ID = "metrics-probe-1"
SCAN_REF = "5d7e2a10-5a7d-11ef-9c2a-0242ac120002"

Labels = tuple[tuple[str, str], ...]


@dataclass
class Scrape:
    """One ``/metrics`` answer: the families it declares and every sample's value."""

    families: set[str]
    samples: dict[str, dict[Labels, float]]

    def values(self, name: str) -> dict[Labels, float]:
        """The samples of ``name``, by their labels."""
        return dict(self.samples.get(name, {}))

    def by(self, name: str, label: str) -> dict[str, float]:
        return {dict(labels)[label]: value for labels, value in self.values(name).items()}


def scrape(service: RunningService) -> Scrape:
    response = httpx2.get(f"{service.url}/metrics", timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families: set[str] = set()
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        families.add(family.name)
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return Scrape(families, samples)


@dataclass
class Traffic:
    """A service after a simulated day and a few deliveries it could not record."""

    service: RunningService
    summary: dict[str, Any]
    report: list[dict[str, Any]]
    extras: Counter[tuple[str, str]]


@pytest.fixture
def topology(database_url: str, tmp_path: Path) -> Iterator[Topology]:
    started = Topology(database_url, tmp_path)
    yield started
    started.close()


def serve(topology: Topology, *args: str) -> RunningService:
    """The service: one process on SQLite, two workers on PostgreSQL."""
    if topology.database_url.startswith("postgresql"):
        args = ("--workers", "2", *args)
    return topology.serve(*args)


def simulate(
    topology: Topology, service: RunningService, count: int
) -> tuple[dict[str, Any], Path]:
    report = topology.logs / f"simulate-{len(topology.started) + 1}.ndjson"
    run = topology.simulate(
        service.url, SIGNING_KEYS[0],
        "--scenario", "day", "--count", str(count), "--seed", str(SEED), "--report", str(report),
    )  # fmt: skip
    assert run.process.wait(timeout=RUN_SECONDS) == 0, run.stderr()
    summary: dict[str, Any] = json.loads(run.stdout())
    return summary, report


def send_unrecordable(service: RunningService) -> Counter[tuple[str, str]]:
    """Three deliveries without a valid signature and two authentic but unusable ones."""
    raw = encode(result_body(SCAN_REF))
    sent: Counter[tuple[str, str]] = Counter()
    with httpx2.Client(base_url=service.url, timeout=10.0) as client:
        unsigned = client.post(
            "/webhooks/idenfy/auto-finished",
            content=raw,
            headers={"Content-Type": "application/json", "X-Request-Id": PROBE_REQUEST_ID},
        )
        assert unsigned.status_code == 401
        assert unsigned.headers["x-request-id"] == PROBE_REQUEST_ID
        sent["auto-finished", "unauthorized"] += 1
        wrongly_signed = client.post(
            "/webhooks/idenfy",
            content=raw,
            headers=signed_headers(raw, "not-a-configured-key", "IDENTIFICATION_MANUAL_FINISHED"),
        )
        assert wrongly_signed.status_code == 401
        sent["manual-finished", "unauthorized"] += 1
        not_an_object = b"[1, 2, 3]"
        unusable = client.post(
            "/webhooks/idenfy/auto-finished",
            content=not_an_object,
            headers=signed_headers(not_an_object, SIGNING_KEYS[1]),
        )
        assert unusable.status_code == 202, unusable.text
        sent["auto-finished", "quarantined"] += 1
        unmodelled_body = b"[1, 2]"  # an unmodelled type, and no JSON object
        unmodelled = client.post(
            "/webhooks/idenfy",
            content=unmodelled_body,
            headers=signed_headers(unmodelled_body, SIGNING_KEYS[0], "VIDEO_CALL_FINISHED"),
        )
        assert unmodelled.status_code == 202, unmodelled.text
        sent["other", "quarantined"] += 1
        no_kind_given = client.post(
            "/webhooks/idenfy", content=raw, headers={"Content-Type": "application/json"}
        )
        assert no_kind_given.status_code == 401
        sent["identification", "unauthorized"] += 1
    return sent


@pytest.fixture
def traffic(topology: Topology) -> Traffic:
    service = serve(topology)
    summary, report = simulate(topology, service, COUNT)
    extras = send_unrecordable(service)
    outcomes = [json.loads(line) for line in report.read_text().splitlines()]
    return Traffic(service, summary, outcomes, extras)


def caught_up(service: RunningService) -> Scrape:
    """A scrape once every projection's lag is zero."""

    def check() -> Scrape | None:
        seen = scrape(service)
        lag = seen.by("ledger_projection_lag_events", "projection")
        return seen if set(lag) == set(PROJECTIONS) and not any(lag.values()) else None

    found = wait_until(check, CATCH_UP_SECONDS, "the projections catching up")
    assert found is not None
    return found


def test_deliveries_are_counted_by_kind_and_result_as_their_senders_were_answered(
    traffic: Traffic,
) -> None:
    assert traffic.summary["unacknowledged"] == 0
    assert all(outcome["tries"] == 1 for outcome in traffic.report), "a delivery was retried"
    expected = Counter(
        (PATH_KINDS[outcome["kind"]].value, outcome["result"]) for outcome in traffic.report
    )
    assert sum(expected.values()) == traffic.summary["sent"]
    assert {result for _, result in expected} == {"recorded", "duplicate"}
    expected.update(traffic.extras)

    counted = scrape(traffic.service).values("ledger_deliveries_total")

    assert {(dict(k)["kind"], dict(k)["result"]): value for k, value in counted.items()} == expected
    results = Counter[str]()
    for (_, result), count in expected.items():
        results[result] += count
    assert results["recorded"] == traffic.summary["results"]["recorded"]
    assert results["duplicate"] == traffic.summary["results"]["duplicate"]


def test_every_delivery_is_timed_in_the_ingest_histogram(traffic: Traffic) -> None:
    deliveries = traffic.summary["sent"] + sum(traffic.extras.values())

    seen = scrape(traffic.service)

    assert seen.values("ledger_ingest_seconds_count") == {(): deliveries}
    assert 0 < seen.values("ledger_ingest_seconds_sum")[()] < deliveries * 10
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for labels, value in seen.values("ledger_ingest_seconds_bucket").items()
    )
    assert buckets[-1] == (float("inf"), deliveries)
    counts = [value for _, value in buckets]
    assert counts == sorted(counts)


def test_quarantined_deliveries_are_counted_as_signed_or_unsigned(traffic: Traffic) -> None:
    seen = scrape(traffic.service)

    assert seen.by("ledger_quarantine_deliveries", "signed") == {"true": 2, "false": 3}


def test_the_projection_lag_falls_to_zero_once_the_projections_catch_up(
    traffic: Traffic,
) -> None:
    seen = caught_up(traffic.service)

    assert seen.by("ledger_projection_lag_events", "projection") == dict.fromkeys(PROJECTIONS, 0)
    assert seen.by("ledger_projection_lag_seconds", "projection") == dict.fromkeys(PROJECTIONS, 0)
    assert seen.values("ledger_replay_progress_ratio") == {}
    ready = httpx2.get(f"{traffic.service.url}/readyz", timeout=10.0)
    assert ready.status_code == 200
    assert ready.json()["projectionLag"] == dict.fromkeys(PROJECTIONS, 0)


def test_store_errors_are_exported_before_the_first_one_happens(traffic: Traffic) -> None:
    seen = scrape(traffic.service)

    assert "ledger_store_errors" in seen.families
    errors = seen.values("ledger_store_errors_total")
    assert errors, "ledger_store_errors_total has no series until a store error happens"
    assert set(errors.values()) == {0}


def test_without_a_projection_worker_the_lag_is_every_event_and_their_age(
    topology: Topology,
) -> None:
    service = serve(topology, "--no-projections")
    simulate(topology, service, 5)
    ready = httpx2.get(f"{service.url}/readyz", timeout=10.0).json()
    # Positions, not a count: on PostgreSQL a write that lost a race leaves a gap.
    head = ready["position"]
    assert head >= len({(p.kind, p.body) for p in plan("day", 5, SEED)})

    seen = scrape(service)

    assert ready["projectionLag"] == dict.fromkeys(PROJECTIONS, head)
    assert seen.by("ledger_projection_lag_events", "projection") == dict.fromkeys(PROJECTIONS, head)
    ages = seen.by("ledger_projection_lag_seconds", "projection")
    assert set(ages) == set(PROJECTIONS)
    assert all(0 < age < RUN_SECONDS for age in ages.values()), ages

    def older() -> bool:
        now = scrape(service).by("ledger_projection_lag_seconds", "projection")
        return all(now[name] > ages[name] for name in PROJECTIONS)

    wait_until(older, CATCH_UP_SECONDS, "the oldest unprojected event growing older")


class Interrupted(Exception):
    """Stands for Ctrl-C during a replay."""


def test_replay_progress_is_reported_while_a_replay_is_half_built_and_not_after(
    topology: Topology,
) -> None:
    service = serve(topology)
    simulate(topology, service, 30)
    assert caught_up(service).values("ledger_replay_progress_ratio") == {}
    settings = load(topology.environ)
    ledger = open_ledger(settings, create_tables=False)
    views = Sql(views_datastore(settings.store))
    reached: list[tuple[int, int]] = []

    def stop_after_the_first_batch(done: int, total: int) -> None:
        reached.append((done, total))
        raise Interrupted

    try:
        with pytest.raises(Interrupted):
            replay(ledger, views, ["current_status"], stop_after_the_first_batch, batch_size=20)
    finally:
        ledger.close()
        views.datastore.close()
    [(done, total)] = reached
    assert 0 < done < total

    half_built = scrape(service)

    assert half_built.by("ledger_replay_progress_ratio", "projection") == {
        "current_status": pytest.approx(done / total)
    }

    finished = topology.run("replay", "current_status")
    assert finished.returncode == 0, finished.stderr
    assert "current_status (generation 2)" in finished.stdout
    assert scrape(service).values("ledger_replay_progress_ratio") == {}
    assert caught_up(service).values("ledger_replay_progress_ratio") == {}


def test_the_service_logs_json_lines_with_request_ids_and_the_scan_refs_of_webhooks(
    traffic: Traffic,
) -> None:
    planned = plan("day", COUNT, SEED)
    caught_up(traffic.service)
    with httpx2.Client(base_url=traffic.service.url, timeout=10.0) as client:
        read = client.get(
            f"/verifications/{planned[0].scan_ref}",
            params={"minPosition": "1", "clientId": "query-string-marker"},
            headers={"Authorization": f"Bearer {API_TOKENS['backend']}"},
        )
    assert read.status_code == 200, read.text
    # Read once stopped: with two workers writing, a line may be half-written till then.
    assert traffic.service.stop() in CLEAN_STOP
    stderr = traffic.service.stderr()

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]

    assert all(isinstance(line, dict) for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "ledger.access"]
    assert all(line.get("request_id") for line in access)
    webhooks = [line for line in access if line["path"].startswith("/webhooks/")]
    assert len(webhooks) == traffic.summary["sent"] + sum(traffic.extras.values())
    recorded = [line for line in webhooks if line["status"] == 200]
    assert len(recorded) == traffic.summary["sent"]
    assert {line.get("scan_ref") for line in recorded} == {p.scan_ref for p in planned}
    assert [line["status"] for line in access if line["request_id"] == PROBE_REQUEST_ID] == [401]
    assert read.headers["x-request-id"] in {line["request_id"] for line in access}
    for secret in (
        "query-string-marker", "minPosition", API_TOKENS["backend"], "docNumber",
        "X-Amz-Signature", "Gedimino",
    ):  # fmt: skip
        assert secret not in stderr, f"{secret!r} was logged"
