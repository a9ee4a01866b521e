"""Reconciliation on a schedule (``LEDGER_RECONCILE_EVERY``): one active runner across
processes, like the projections, and a verification asked about once in the interval
however many rounds run (both stores)."""

from __future__ import annotations

import dataclasses

from adapters.completeness_settings import CompletenessSettings
from adapters.idenfy_api import IdenfyApiSettings, IdenfyStatusApi
from app.service.reconcile_schedule import ScheduledReconcile
from app.service.services import Services
from domain.reports import Registration
from tests.support.fake_idenfy import API_KEY, API_SECRET, fake_idenfy
from tests.support.waiting import wait_until
from tests.support.webhooks import wait_for_views


def test_one_scheduled_runner_asks_and_never_twice_within_the_interval(
    services: Services,
) -> None:
    services.start_projections()
    at = services.clock()
    registration = Registration(
        scan_ref="sched-1", client_id="c-1", expiry_time=0, session_length=0
    )
    receipt = services.ledger.register(registration, at)
    assert receipt.position is not None
    wait_for_views(services, receipt.position)
    services.views.status.serving.grace = 0
    settings = dataclasses.replace(
        services.settings,
        completeness=CompletenessSettings(reconcile_every=1, reconcile_rate=6000, overdue_grace=0),
    )
    scheduled = dataclasses.replace(services, settings=settings)

    with fake_idenfy() as fake:
        fake.fake.set_script({"default": {"status": "REVIEWING"}})
        api = IdenfyStatusApi(IdenfyApiSettings(API_KEY, API_SECRET, base_url=fake.url))
        runners = [ScheduledReconcile(scheduled, api).start() for _ in range(2)]
        try:
            wait_until(lambda: sum(r.runs for r in runners) >= 3, 30, "three scheduled runs")
        finally:
            for runner in runners:
                runner.stop()
        calls = fake.fake.calls()

    assert calls["calls"] == {"sched-1": 1}
    assert sorted(runner.runs > 0 for runner in runners) == [False, True]
