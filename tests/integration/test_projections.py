"""The projections, run by their workers, agree with the status rules over the same facts.

The scenario, the facts and what the rules and the views make of them are in
``tests/support/scenario.py``, shared with the replay and projection-worker tests.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import Tracking
from starlette.testclient import TestClient

from adapters.generations import GenerationChangedError, begin_build, switch_to
from adapters.sql import Sql
from adapters.status_query import Serving
from adapters.view_tables import SqlAuditTimelineView, SqlCurrentStatusView, SqlReattemptsView
from adapters.views import SqlVerificationView, encode_json
from app.server import create_app
from app.service.ledger import Ledger
from app.service.services import Services
from domain.reports import Kind
from projections.current_status import StatusFilter
from projections.facts import Fact
from projections.rules import RULES_VERSION, evaluate
from projections.verification_view import VerificationState
from tests.support.scenario import (
    assert_views_follow_the_rules,
    head,
    ledger_facts,
    notice,
    registered,
    result,
    scenario,
    send,
    tell,
    wait_for_views,
)

# The workers, in this process.


def test_live_projections_agree_with_the_rules_over_a_realistic_mix(services: Services) -> None:
    services.start_projections()
    steps = scenario(seed=1, count=40)
    receipts = [tell(services.ledger, step) for step in steps]

    seen = assert_views_follow_the_rules(services)

    assert any(receipt.duplicate for receipt in receipts)
    assert len(seen.documents) == 40
    by_ref = {doc["scanRef"]: doc for doc in seen.documents}
    assert sum(doc["events"] for doc in seen.documents) == head(services.ledger)
    statuses = {doc["status"] for doc in seen.documents}
    assert {"APPROVED", "CANCELED", "EXPIRED", "PENDING", "SUSPECTED"} <= statuses
    assert any(doc["documentExpiration"] for doc in by_ref.values())
    assert any(doc["reattemptsUsed"] == 1 for doc in by_ref.values())


def test_workers_started_after_the_deliveries_catch_up_from_the_beginning(
    services: Services,
) -> None:
    for step in scenario(seed=2, count=20):
        tell(services.ledger, step)

    services.start_projections()

    assert len(assert_views_follow_the_rules(services).documents) == 20


def test_workers_stopped_and_started_again_resume_without_counting_twice(
    services: Services,
) -> None:
    steps = scenario(seed=3, count=30)
    workers = services.start_projections()
    for step in steps[: len(steps) // 2]:
        tell(services.ledger, step)
    wait_for_views(services.views, head(services.ledger))
    workers.stop()
    for step in steps[len(steps) // 2 :]:
        tell(services.ledger, step)

    services.start_projections()

    seen = assert_views_follow_the_rules(services)
    facts = ledger_facts(services.ledger)
    assert {d["scanRef"]: d["events"] for d in seen.documents} == {
        ref: len(f) for ref, f in facts.items()
    }


def test_deliveries_over_http_are_projected_as_the_status_rules_say(
    services: Services, client: TestClient
) -> None:
    services.start_projections()
    manual, cancel, notice_ref, legacy_ref = "http-manual", "http-cancel", "http-notice", "http-id"
    steps = [
        # The manual result arrives before the preliminary automated one it follows.
        result(manual, "c-1", Kind.MANUAL_FINISHED, final=True, overall="DENIED", finish_time=9),
        result(manual, "c-1", Kind.AUTO_FINISHED, final=False, overall="SUSPECTED", finish_time=9),
        result(cancel, "c-1", Kind.AUTO_FINISHED, final=True, overall="APPROVED", finish_time=20),
        result(cancel, "c-1", Kind.CANCELLED, final=False, overall="APPROVED", finish_time=20),
        registered(notice_ref, "c-2", max_reattempts=2),
        notice(notice_ref, "c-2", "30_DAYS_BEFORE", "2031-01-31"),
        # A legacy final result, then its preliminary twin: the final one is manual.
        result(
            legacy_ref, "c-2", Kind.IDENTIFICATION, final=True, overall="APPROVED", finish_time=5
        ),
        result(
            legacy_ref, "c-2", Kind.IDENTIFICATION, final=False, overall="DENIED", finish_time=5
        ),
    ]
    answers = [send(client, step) for step in steps]
    assert all(answer["result"] in ("recorded", "registered") for answer in answers)

    assert_views_follow_the_rules(services)

    documents = {ref: services.views.status.status(ref) or {} for ref in (manual, cancel)}
    documents |= {ref: services.views.status.status(ref) or {} for ref in (notice_ref, legacy_ref)}
    assert [documents[manual][k] for k in ("status", "decidedBy", "final")] == [
        "DENIED",
        "manual",
        True,
    ]
    timeline = services.views.timeline.timeline(manual) or []
    assert [entry["lateArrival"] for entry in timeline] == [False, True]
    assert [documents[cancel][k] for k in ("status", "final")] == ["CANCELED", True]
    assert [documents[notice_ref][k] for k in ("status", "reattemptsAllowed")] == ["PENDING", 2]
    assert documents[notice_ref]["documentExpiration"] == {
        "threshold": "30_DAYS_BEFORE",
        "date": "2031-01-31",
    }
    assert [documents[legacy_ref][k] for k in ("status", "decidedBy")] == ["APPROVED", "manual"]
    assert services.views.reattempts.client("c-2") == {
        "clientId": "c-2",
        "verifications": 2,
        "approved": 1,
        "denied": 0,
        "suspected": 0,
        "latestScanRef": legacy_ref,
    }


def test_first_and_last_event_times_follow_the_clock_within_one_second(
    services: Services,
) -> None:
    """Receipt times are compared as moments: 09:00:00 comes before 09:00:00.25."""
    services.start_projections()
    on_the_second = datetime(2024, 6, 19, 9, 0, 0, tzinfo=UTC)
    a_quarter_later = on_the_second.replace(microsecond=250_000)
    moments = iter([on_the_second, a_quarter_later])
    clocked = dataclasses.replace(services, clock=lambda: next(moments, datetime.now(UTC)))
    client = TestClient(create_app(clocked), raise_server_exceptions=False)
    said = functools.partial(result, "clock-1", "client-t", Kind.AUTO_FINISHED)
    send(client, said(final=False, overall="SUSPECTED", finish_time=10))
    send(client, said(final=True, overall="APPROVED", finish_time=10))

    wait_for_views(services.views, head(services.ledger))

    document = services.views.status.status("clock-1")
    assert document is not None
    assert parse_instant(document["firstEventAt"]) == on_the_second
    assert parse_instant(document["lastEventAt"]) == a_quarter_later


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The views' contract, the same for SQLite and PostgreSQL.

WHEN = "2024-06-19T09:00:00Z"


def fact(
    sequence: int,
    position: int,
    *,
    client_id: str = "client-a",
    kind: str = "auto-finished",
    final: bool = True,
    overall: str = "APPROVED",
    finish_time: int = 1000,
    fraud_tags: tuple[str, ...] = (),
) -> Fact:
    return Fact(
        sequence=sequence,
        position=position,
        kind=kind,
        received_at=WHEN,
        client_id=client_id,
        final=final,
        overall=overall,
        finish_time=finish_time,
        fraud_tags=fraud_tags,
    )


def state(scan_ref: str, *facts: Fact) -> VerificationState:
    ordered = sorted(facts, key=lambda f: f.sequence)
    return VerificationState(scan_ref, ordered, evaluate(scan_ref, ordered))


def tracking(position: int) -> Tracking:
    return Tracking(Ledger.name, position)


@dataclass
class ContractViews:
    status: SqlCurrentStatusView
    reattempts: SqlReattemptsView
    timeline: SqlAuditTimelineView

    def all(self) -> tuple[SqlVerificationView, ...]:
        return (self.status, self.reattempts, self.timeline)

    def save(self, states: Sequence[VerificationState], position: int) -> None:
        for view in self.all():
            view.save(states, tracking(position))


class TestVerificationViewContract:
    """What every SQL view promises the projections and the read API, on both stores."""

    @pytest.fixture
    def sql(self, services: Services) -> Sql:
        return services.views.sql

    @pytest.fixture
    def views(self, sql: Sql) -> ContractViews:
        return ContractViews(
            SqlCurrentStatusView(sql, mode="live"),
            SqlReattemptsView(sql, mode="live"),
            SqlAuditTimelineView(sql, mode="live"),
        )

    @pytest.fixture
    def listed(self, views: ContractViews) -> ContractViews:
        """Five verifications of two clients, saved one after the other."""
        views.save([state("a-approved", fact(1, 1, client_id="client-a"))], 1)
        views.save([state("b-suspected", fact(1, 2, client_id="client-b", overall="SUSPECTED"))], 2)
        views.save([state("a-pending", fact(1, 3, client_id="client-a", final=False))], 3)
        views.save(
            [state("a-denied", fact(1, 4, client_id="client-a", overall="DENIED",
                                    fraud_tags=("AUTO_FRAUD",)))],
            4,
        )  # fmt: skip
        views.save([state("b-approved", fact(1, 5, client_id="client-b"))], 5)
        return views

    def test_saved_facts_are_read_back_by_scan_ref(self, views: ContractViews) -> None:
        saved = state("one", fact(1, 7), fact(2, 9, kind="manual-finished", finish_time=1000))
        views.save([saved, state("two", fact(1, 8))], 9)

        for view in views.all():
            assert view.facts(["one", "two", "absent"]) == {
                "one": saved.facts,
                "two": [fact(1, 8)],
            }
            assert view.facts([]) == {}

    def test_many_scan_refs_are_read_in_one_call(self, views: ContractViews) -> None:
        states = [state(f"ref-{n:04d}", fact(1, n + 1)) for n in range(1200)]
        views.status.save(states, tracking(1200))

        assert len(views.status.facts([s.scan_ref for s in states])) == 1200

    def test_max_tracking_id_is_none_before_any_save_then_the_last_saved_position(
        self, views: ContractViews
    ) -> None:
        for view in views.all():
            assert view.max_tracking_id(Ledger.name) is None
        views.save([state("one", fact(1, 3))], 3)
        views.save([state("two", fact(1, 11))], 11)

        for view in views.all():
            assert view.max_tracking_id(Ledger.name) == 11
            assert view.max_tracking_id("AnotherApplication") is None

    def test_a_save_at_an_already_tracked_position_is_skipped(self, views: ContractViews) -> None:
        views.save([state("one", fact(1, 5))], 5)

        later = state("one", fact(1, 5), fact(2, 6, overall="DENIED", finish_time=2000))
        views.save([later, state("two", fact(1, 4))], 5)
        views.save([later], 4)

        for view in views.all():
            assert view.facts(["one", "two"]) == {"one": [fact(1, 5)]}
            assert view.max_tracking_id(Ledger.name) == 5
        stored = state("one", fact(1, 5)).evaluation.document
        assert views.status.status("one") == Serving().document(encode_json(stored), None)
        assert views.status.status("two") is None
        totals = views.reattempts.client("client-a")
        assert totals is not None
        assert (totals["verifications"], totals["approved"]) == (1, 1)

    def test_a_repeated_save_replaces_the_row_rather_than_adding_one(
        self, views: ContractViews
    ) -> None:
        views.save([state("one", fact(1, 5))], 5)
        views.save([state("one", fact(1, 5), fact(2, 6, overall="DENIED", finish_time=2000))], 6)

        assert views.reattempts.client("client-a") == {
            "clientId": "client-a",
            "verifications": 1,
            "approved": 0,
            "denied": 1,
            "suspected": 0,
            "latestScanRef": "one",
        }
        attempts = views.reattempts.attempts("one")
        assert attempts == {
            "scanRef": "one",
            "attempts": 2,
            "reattemptsAllowed": 1,
            "reattemptsUsed": 1,
            "reattemptsRemaining": 0,
        }
        document = views.status.status("one")
        assert document is not None
        assert (document["status"], document["events"], document["lastPosition"]) == (
            "DENIED",
            2,
            6,
        )

    def test_the_list_is_newest_activity_first(self, listed: ContractViews) -> None:
        items = listed.status.statuses(StatusFilter(), 100, None)

        assert [d["scanRef"] for d in items] == [
            "b-approved", "a-denied", "a-pending", "b-suspected", "a-approved",
        ]  # fmt: skip

    @pytest.mark.parametrize(
        ("where", "refs"),
        [
            (StatusFilter(status="APPROVED"), ["b-approved", "a-pending", "a-approved"]),
            (StatusFilter(status="SUSPECTED"), ["b-suspected"]),
            (StatusFilter(status="UNHEARD_OF"), []),
            (StatusFilter(final=True), ["b-approved", "a-denied", "b-suspected", "a-approved"]),
            (StatusFilter(final=False), ["a-pending"]),
            (StatusFilter(client_id="client-b"), ["b-approved", "b-suspected"]),
            (StatusFilter(suspected=True), ["a-denied", "b-suspected"]),
            (StatusFilter(suspected=False), ["b-approved", "a-pending", "a-approved"]),
            (StatusFilter(client_id="client-a", final=True), ["a-denied", "a-approved"]),
            (StatusFilter(client_id="client-a", status="APPROVED", final=False), ["a-pending"]),
        ],
    )
    def test_the_list_filters_match_only_their_verifications(
        self, listed: ContractViews, where: StatusFilter, refs: list[str]
    ) -> None:
        assert [d["scanRef"] for d in listed.status.statuses(where, 100, None)] == refs

    def test_the_list_is_bounded_by_limit_and_before(self, listed: ContractViews) -> None:
        statuses = listed.status.statuses

        assert [d["scanRef"] for d in statuses(StatusFilter(), 2, None)] == [
            "b-approved",
            "a-denied",
        ]
        assert [d["scanRef"] for d in statuses(StatusFilter(), 2, 4)] == [
            "a-pending",
            "b-suspected",
        ]
        assert [d["scanRef"] for d in statuses(StatusFilter(client_id="client-a"), 10, 3)] == [
            "a-approved"
        ]
        assert statuses(StatusFilter(), 10, 1) == []

    def test_client_totals_add_up_the_clients_verifications(self, listed: ContractViews) -> None:
        assert listed.reattempts.client("client-a") == {
            "clientId": "client-a",
            "verifications": 3,
            "approved": 2,
            "denied": 1,
            "suspected": 1,
            "latestScanRef": "a-denied",
        }
        assert listed.reattempts.client("client-b") == {
            "clientId": "client-b",
            "verifications": 2,
            "approved": 1,
            "denied": 0,
            "suspected": 1,
            "latestScanRef": "b-approved",
        }
        assert listed.reattempts.client("nobody") is None

    def test_the_timeline_view_keeps_the_evaluated_entries(self, views: ContractViews) -> None:
        saved = state(
            "one",
            fact(1, 1, kind="manual-finished", overall="DENIED"),
            fact(2, 2, final=False, overall="SUSPECTED"),
        )
        views.save([saved], 2)

        assert views.timeline.timeline("one") == saved.evaluation.timeline
        assert views.timeline.timeline("absent") is None
        assert views.status.status("absent") is None
        assert views.reattempts.attempts("absent") is None

    def test_a_live_writer_stops_once_a_replay_switched_its_projection(
        self, sql: Sql, views: ContractViews
    ) -> None:
        views.save([state("one", fact(1, 1))], 1)
        for view in views.all():
            _, building, _ = begin_build(sql, view.projection, RULES_VERSION)
            switch_to(sql, view.projection, building)

        for view in views.all():
            assert not view.is_current()
            with pytest.raises(GenerationChangedError):
                view.save([state("two", fact(1, 2))], tracking(2))
            assert type(view)(sql).max_tracking_id(Ledger.name) is None
