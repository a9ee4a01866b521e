"""Live projections in batches: thousands of events, views equal to a replay's.

The workers fold what is waiting in batches and write every view's rows with the
tracking records in one transaction. These tests record thousands of events while
the workers run, then compare the live views with the views a replay builds from
the same ledger; one of them makes a batch fail halfway through its transaction,
after some views were written, as a crash would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from adapters.generations import TRACKING
from adapters.sql import Cursor
from adapters.view_tables import SqlReattemptsView
from app.service.replay import replay
from app.service.services import Services
from app.service.workers import ProjectionWorkers
from projections.verification_view import VerificationState
from tests.support.scenario import (
    Snapshot,
    expected,
    head,
    scenario,
    snapshot,
    tell,
    wait_for_views,
)

BATCH = 50
CATCH_UP_SECONDS = 60.0


def start_workers(services: Services) -> ProjectionWorkers:
    """Workers in small batches, stopped with ``services``."""
    return services.start_projections(batch_limit=BATCH)


def record_concurrently(services: Services, seed: int, count: int) -> None:
    """Record ``count`` verifications' stories from 16 threads, as a busy service would."""
    steps = scenario(seed=seed, count=count, prefix=f"batch{seed}")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(partial(tell, services.ledger), steps))


def tracking_positions(services: Services) -> dict[str, int]:
    """The tracking record of every view the workers write (the first generation's
    tables), read in one transaction."""
    sql = services.views.sql
    with sql.transaction(commit=False) as c:
        rows = c.execute(f"SELECT view, notification_id FROM {sql.table(TRACKING)}").fetchall()
    return {row["view"]: int(row["notification_id"]) for row in rows if row["view"].endswith("_g1")}


def replayed(services: Services) -> Snapshot:
    replay(services.ledger, services.views.sql, drop_grace=0)
    return snapshot(services.views)


@pytest.fixture
def watched(services: Services) -> Iterator[list[dict[str, int]]]:
    """Samples of the tracking records, taken every few milliseconds while the test runs."""
    samples: list[dict[str, int]] = []
    stopping = threading.Event()

    def sample() -> None:
        while not stopping.wait(0.003):
            samples.append(tracking_positions(services))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    yield samples
    stopping.set()
    sampler.join()


def test_thousands_of_events_projected_live_in_batches_equal_a_replay(
    services: Services, watched: list[dict[str, int]]
) -> None:
    start_workers(services)

    record_concurrently(services, seed=31, count=1200)
    end = head(services.ledger)
    wait_for_views(services.views, end, timeout=CATCH_UP_SECONDS)
    live = snapshot(services.views)

    assert end >= 2500
    assert live == expected(services.ledger)
    assert live == replayed(services)
    positions = [set(sample.values()) for sample in watched if len(sample) == 3]
    assert all(len(seen) == 1 for seen in positions), "views committed apart"
    assert len({min(seen) for seen in positions}) > 2, "no batch was seen committing"


def test_a_batch_that_fails_halfway_commits_nothing_and_is_projected_again(
    services: Services, monkeypatch: pytest.MonkeyPatch, watched: list[dict[str, int]]
) -> None:
    """The re-attempt rows are written last in each batch (the views go in name order);
    one of their writes fails, after the timeline and status rows of the batch were
    written in the same transaction."""
    original = SqlReattemptsView._upsert
    calls: list[frozenset[str]] = []
    failed: list[frozenset[str]] = []

    def upsert_failing_once(
        view: SqlReattemptsView,
        c: Cursor,
        states: list[VerificationState],
        *args: Any,
    ) -> None:
        calls.append(frozenset(state.scan_ref for state in states))
        if len(calls) == 5:
            failed.append(calls[-1])
            raise RuntimeError("the process died here")
        original(view, c, states, *args)

    monkeypatch.setattr(SqlReattemptsView, "_upsert", upsert_failing_once)
    record_concurrently(services, seed=32, count=1200)
    end = head(services.ledger)

    start_workers(services)
    wait_for_views(services.views, end, timeout=CATCH_UP_SECONDS)
    live = snapshot(services.views)

    assert failed, "no batch failed"
    assert calls.count(failed[0]) == 2, "the failed batch was not projected again"
    assert live == replayed(services)
    positions = [set(sample.values()) for sample in watched if len(sample) == 3]
    assert all(len(seen) == 1 for seen in positions), "part of a batch was committed"
