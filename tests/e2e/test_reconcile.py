"""Completeness with a fake iDenfy API (both stores): overdue verifications are found no
earlier than their deadline, asked about at the configured rate and never twice within
the interval; the answers take force by the rules; a verification finished by webhook is
never asked about; a refused credential stops the run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient

from adapters.idenfy_api import AuthenticationError, IdenfyApiSettings, IdenfyStatusApi
from adapters.rate_limit import RateLimiter
from app.cli.fake_idenfy import FakeIdenfyServer
from app.service.reconcile import reconcile
from app.service.services import Services
from tests.support.fake_idenfy import API_KEY, API_SECRET, client_of, fake_idenfy
from tests.support.idenfy import result_body
from tests.support.settings import API_TOKENS
from tests.support.ui import sign_in
from tests.support.webhooks import auth, deliver, wait_for_views

DEADLINE = timedelta(seconds=3600 + 600 + 3600)  # default expiry, session and grace


@pytest.fixture
def fake() -> Iterator[FakeIdenfyServer]:
    with fake_idenfy() as server:
        yield server


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class PassingTime:
    """Monotonic time that passes only while the rate limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def asking(fake: FakeIdenfyServer, clock: Clock) -> IdenfyStatusApi:
    """The real client, asking the fake at the service's time."""
    settings = IdenfyApiSettings(API_KEY, API_SECRET, base_url=fake.url, timeout=5.0)
    return IdenfyStatusApi(settings, sleep=lambda _: None, now=clock)


def register(client: TestClient, scan_ref: str) -> int:
    body = {"scanRef": scan_ref, "clientId": f"client-{scan_ref}"}
    answer = client.post("/verifications", json=body, headers=auth())
    assert answer.status_code == 201, answer.text
    return int(answer.json()["position"])


def overdue(client: TestClient) -> list[str]:
    answer = client.get("/verifications?overdue=true", headers=auth())
    assert answer.status_code == 200, answer.text
    return sorted(item["scanRef"] for item in answer.json()["items"])


@pytest.fixture
def quiet(client: TestClient, services: Services) -> tuple[Services, Clock, int]:
    """Five registered verifications: done-1 finished by webhook, gone-1 cancelled, quiet-1
    and quiet-2 never heard of, waiting-1 with only a preliminary result; and loose-1,
    heard of with no registration."""
    services.start_projections()
    for scan_ref in ("done-1", "quiet-1", "quiet-2", "waiting-1", "gone-1"):
        register(client, scan_ref)
    deliver(client, "auto-finished", result_body("done-1", final=True, overall="APPROVED"))
    deliver(client, "cancelled", result_body("gone-1", final=True, overall="DENIED"))
    deliver(client, "auto-finished", result_body("loose-1", final=True, overall="APPROVED"))
    last = deliver(client, "auto-finished", result_body("waiting-1", final=False))
    wait_for_views(services, last)
    registered = services.views.status.status("quiet-1")
    assert registered is not None
    clock = Clock(datetime.fromisoformat(registered["registeredAt"]))
    services.views.status.serving.clock = clock
    return dataclasses.replace(services, clock=clock), clock, last


def test_verifications_become_overdue_at_their_deadline_and_not_before(
    client: TestClient, quiet: tuple[Services, Clock, int]
) -> None:
    _, clock, _ = quiet
    clock.now += DEADLINE - timedelta(seconds=5)
    assert overdue(client) == []
    document = client.get("/verifications/quiet-1", headers=auth()).json()
    assert document["overdue"] is False
    assert document["deadline"] == (
        datetime.fromisoformat(document["registeredAt"]) + DEADLINE
    ).isoformat(timespec="microseconds").replace("+00:00", "Z")

    clock.now += timedelta(seconds=10)

    assert overdue(client) == ["quiet-1", "quiet-2", "waiting-1"]
    assert client.get("/verifications/quiet-1", headers=auth()).json()["overdue"] is True
    assert client.get("/verifications/done-1", headers=auth()).json()["overdue"] is False
    assert "ledger_overdue_verifications 3.0" in client.get("/metrics").text


def test_a_run_asks_at_the_rate_records_answers_and_never_asks_twice(
    client: TestClient, quiet: tuple[Services, Clock, int], fake: FakeIdenfyServer
) -> None:
    services, clock, _ = quiet
    clock.now += DEADLINE + timedelta(minutes=1)
    fake.fake.set_script(
        {
            "scanRefs": {
                "quiet-1": {"status": "APPROVED", "manual": True},
                "quiet-2": {"malformed": "not-json"},
                "waiting-1": {"status": "REVIEWING"},
            }
        }
    )
    time = PassingTime()
    limiter = RateLimiter(30, clock=time.monotonic, sleep=time.sleep)

    summary = reconcile(services, asking(fake, clock), limiter)
    again = reconcile(services, asking(fake, clock), limiter)

    assert (summary.checked, summary.changed, summary.failed) == (3, 1, 0)
    assert again.checked == 0
    assert fake.fake.calls()["calls"] == {"quiet-1": 1, "quiet-2": 1, "waiting-1": 1}
    assert time.slept == [2.0, 2.0]  # at 30 a minute, two seconds apart
    wait_for_views(services, services.ledger.recorder.max_notification_id() or 0)
    approved = client.get("/verifications/quiet-1", headers=auth()).json()
    assert (approved["status"], approved["decidedBy"], approved["overdue"]) == (
        "APPROVED",
        "manual",
        False,
    )
    assert approved["lastStatusCheck"]["status"] == "APPROVED"
    unusable = client.get("/verifications/quiet-2", headers=auth()).json()
    assert (unusable["status"], unusable["overdue"]) == ("PENDING", True)
    assert unusable["lastStatusCheck"]["cause"] == "not-json"
    reviewing = client.get("/verifications/waiting-1", headers=auth()).json()
    assert reviewing["awaitingManualReview"] is True
    assert overdue(client) == ["quiet-2", "waiting-1"]
    timeline = client.get("/verifications/quiet-2/timeline?payload=1", headers=auth("auditor"))
    [checked] = [e for e in timeline.json()["entries"] if e["kind"] == "status-checked"]
    assert checked["payload"].startswith("<html>")

    clock.now += timedelta(days=1, seconds=1)
    wait_for_views(services, services.ledger.recorder.max_notification_id() or 0)
    later = reconcile(services, asking(fake, clock), limiter)
    assert later.checked == 2  # the interval has passed; quiet-1 is finished
    assert fake.fake.calls()["calls"] == {"quiet-1": 1, "quiet-2": 2, "waiting-1": 2}


def test_a_dry_run_asks_nothing_and_a_refused_credential_stops_the_run(
    quiet: tuple[Services, Clock, int], fake: FakeIdenfyServer
) -> None:
    services, clock, _ = quiet
    clock.now += DEADLINE + timedelta(minutes=1)

    planned = reconcile(services, None, None)
    with pytest.raises(AuthenticationError):
        reconcile(services, client_of(fake, api_secret="not-the-secret-of-the-tests"), None)

    assert sorted(planned.planned) == ["quiet-1", "quiet-2", "waiting-1"]
    assert planned.checked == 0
    assert fake.fake.calls()["total"] == 0
    assert fake.fake.calls()["unauthorized"] == 1


def test_the_completeness_statement_counts_what_the_ledger_holds(
    client: TestClient, quiet: tuple[Services, Clock, int], fake: FakeIdenfyServer
) -> None:
    services, clock, _ = quiet
    clock.now += DEADLINE + timedelta(minutes=1)
    fake.fake.set_script(
        {"scanRefs": {"quiet-1": {"status": "DENIED"}}, "default": {"status": "ACTIVE"}}
    )
    reconcile(services, asking(fake, clock), None)
    wait_for_views(services, services.ledger.recorder.max_notification_id() or 0)
    day = clock.now.date()
    window = {
        "since": (day - timedelta(days=1)).isoformat(),
        "until": (day + timedelta(days=1)).isoformat(),
    }

    found = client.get("/audit/completeness", params=window, headers=auth("auditor"))
    filed = client.get(
        "/audit/completeness", params={**window, "format": "md"}, headers=auth("auditor")
    )
    before = client.get(
        "/audit/completeness",
        params={"since": "2020-01-01", "until": "2020-02-01"},
        headers=auth("auditor"),
    )

    assert found.status_code == 200, found.text
    statement = found.json()
    assert {
        key: statement[key]
        for key in (
            "registered",
            "finished",
            "canceled",
            "expired",
            "statusChecked",
            "unregistered",
        )
    } == {
        "registered": 5,
        "finished": 2,  # done-1 by webhook, quiet-1 by iDenfy's answer
        "canceled": 1,
        "expired": 0,
        "statusChecked": 3,
        "unregistered": 1,
    }
    assert statement["overdue"] == ["quiet-2", "waiting-1"]
    assert statement["unregisteredScanRefs"] == ["loose-1"]
    assert filed.headers["content-type"].startswith("text/markdown")
    assert "| registered in the window | 5 |" in filed.text
    assert "- `quiet-2`" in filed.text
    assert before.json()["registered"] == 0
    assert client.get("/audit/completeness", params=window, headers=auth()).status_code == 403
    refused = client.get("/audit/completeness", params={"since": "May"}, headers=auth("auditor"))
    assert refused.status_code == 422


def test_the_ui_lists_overdue_verifications_and_a_months_statement(
    client: TestClient, quiet: tuple[Services, Clock, int]
) -> None:
    _, clock, _ = quiet
    clock.now += DEADLINE + timedelta(minutes=1)
    assert sign_in(client, API_TOKENS["auditor"]).status_code == 303
    month = clock.now.strftime("%Y-%m")

    listed = client.get("/ui/overdue")
    page = client.get(f"/ui/completeness?month={month}")
    filed = client.get(f"/ui/completeness.md?month={month}")

    assert listed.status_code == 200, listed.text
    for scan_ref in ("quiet-1", "quiet-2", "waiting-1"):
        assert f'href="/ui/verifications/{scan_ref}"' in listed.text
    assert "done-1" not in listed.text
    assert page.status_code == 200, page.text
    assert "<dt>Registered</dt><dd>5</dd>" in page.text
    assert filed.headers["content-disposition"] == f'attachment; filename="completeness-{month}.md"'
    assert "| registered in the window | 5 |" in filed.text
    assert client.get("/ui/completeness?month=May").status_code == 422


@pytest.mark.parametrize("cause", ["not-json", "no-status", "other-scan-ref", "unknown-status"])
def test_an_unusable_answer_is_recorded_with_its_cause_and_changes_nothing(
    client: TestClient, quiet: tuple[Services, Clock, int], fake: FakeIdenfyServer, cause: str
) -> None:
    services, clock, _ = quiet
    clock.now += DEADLINE + timedelta(minutes=1)
    fake.fake.set_script({"default": {"malformed": cause}})
    before = client.get("/verifications/quiet-1", headers=auth()).json()

    summary = reconcile(services, asking(fake, clock), None, limit=1)

    assert (summary.checked, summary.changed) == (1, 0)
    wait_for_views(services, services.ledger.recorder.max_notification_id() or 0)
    after = client.get("/verifications/quiet-1", headers=auth()).json()
    assert after["lastStatusCheck"]["cause"] == cause
    assert after["lastStatusCheck"]["status"] is None
    assert (after["status"], after["final"], after["overdue"]) == (before["status"], False, True)
