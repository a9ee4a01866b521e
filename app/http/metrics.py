"""``GET /metrics``: Prometheus text format, with prometheus-client.

Counters and the latency histogram are per process (shared across uvicorn workers
through prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is
set). Projection lag, quarantine size and replay progress are read from the store
at scrape time, so every instance reports the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapters.fast_facts import stored_state
from app.service.ledger import Ledger
from app.service.services import Services

DELIVERIES = Counter(
    "ledger_deliveries",
    "Webhook deliveries by kind and result",
    ["kind", "result"],
)
INGEST_SECONDS = Histogram(
    "ledger_ingest_seconds",
    "Time to answer a webhook delivery",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STORE_ERRORS = Counter("ledger_store_errors", "Store operations that failed", ["operation"])
for _operation in ("ingest", "metrics"):
    STORE_ERRORS.labels(_operation)  # exported as 0 before the first failure


class StoreCollector(Collector):
    """Figures read from the store when scraped."""

    def __init__(self, services: Services):
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag_events = GaugeMetricFamily(
            "ledger_projection_lag_events",
            "Events recorded but not yet projected",
            labels=["projection"],
        )
        lag_seconds = GaugeMetricFamily(
            "ledger_projection_lag_seconds",
            "Age of the oldest event not yet projected",
            labels=["projection"],
        )
        quarantine = GaugeMetricFamily(
            "ledger_quarantine_deliveries", "Deliveries kept in quarantine", labels=["signed"]
        )
        replay = GaugeMetricFamily(
            "ledger_replay_progress_ratio",
            "Share of the ledger a running replay has rebuilt (absent when none runs)",
            labels=["projection"],
        )
        overdue = GaugeMetricFamily(
            "ledger_overdue_verifications",
            "Registered verifications past their deadline with no terminal result",
        )
        ledger = self.services.ledger
        try:
            overdue.add_metric([], self.services.views.status.overdue_count())
            head = ledger.recorder.max_notification_id() or 0
            for view in self.services.views.all():
                tracked = view.max_tracking_id(Ledger.name) or 0
                lag_events.add_metric([view.projection], head - tracked)
                lag_seconds.add_metric([view.projection], self._age(tracked, head))
                building = view.building_progress()
                if building is not None:
                    replay.add_metric([view.projection], building / head if head else 1.0)
            signed, unsigned = self.services.quarantine.counts()
            quarantine.add_metric(["true"], signed)
            quarantine.add_metric(["false"], unsigned)
        except Exception:
            STORE_ERRORS.labels("metrics").inc()
        yield from (lag_events, lag_seconds, quarantine, replay, overdue)

    def _age(self, tracked: int, head: int) -> float:
        if tracked >= head:
            return 0.0
        ledger = self.services.ledger
        first = ledger.recorder.select_notifications(
            start=tracked, limit=1, inclusive_of_start=False
        )
        if not first:
            return 0.0
        stored = stored_state(ledger.mapper, first[0])
        if stored is None:
            return 0.0
        recorded = datetime.fromisoformat(stored.timestamp.data)
        return max(0.0, time.time() - recorded.timestamp())


def registry(services: Services) -> CollectorRegistry:
    """The registry to scrape: this process's (or all workers') metrics, plus the store's."""
    scraped = CollectorRegistry()
    if services.settings.metrics_dir:
        multiprocess.MultiProcessCollector(scraped)  # type: ignore[no-untyped-call]
    else:
        for metric in (DELIVERIES, INGEST_SECONDS, STORE_ERRORS):
            scraped.register(metric)
    scraped.register(StoreCollector(services))
    return scraped


class Metrics:
    """``GET /metrics`` over ``services``, its registry made on the first scrape."""

    def __init__(self, services: Services):
        self.services = services
        self.scraped: CollectorRegistry | None = None

    async def scrape(self, request: Request) -> Response:
        if self.scraped is None:
            self.scraped = registry(self.services)
        body = await run_in_threadpool(generate_latest, self.scraped)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
