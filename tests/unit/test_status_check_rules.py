"""Rules version 3: answers of iDenfy's status API in the rules, and the deadline of a
registered verification."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.completeness import is_overdue
from projections.facts import Fact
from projections.rules import evaluate

SCAN_REF = "check-1"
REGISTERED_AT = "2026-11-02T09:00:00.000000Z"


def registered(expiry: int | None = None, session: int | None = None) -> Fact:
    return Fact(1, 1, "registered", REGISTERED_AT, client_id="user-1", max_reattempts=1,
                expiry_time=expiry, session_length=session)  # fmt: skip


def result(sequence: int, kind: str, final: bool | None, overall: str, finish: int = 1000) -> Fact:
    at = f"2026-11-02T09:0{sequence}:00.000000Z"
    return Fact(sequence, sequence, kind, at, final=final, overall=overall, finish_time=finish)


def check(
    sequence: int, overall: str | None, manual: bool = False, cause: str | None = None
) -> Fact:
    at = f"2026-11-03T09:0{sequence}:00.000000Z"
    return Fact(sequence, sequence, "status-checked", at, overall=overall, cause=cause,
                manual_face="FACE_MATCH" if manual else None)  # fmt: skip


def test_a_decisive_answer_puts_its_status_in_force_as_a_final_result() -> None:
    facts = [
        registered(),
        result(2, "auto-finished", False, "REVIEWING"),
        check(3, "APPROVED", True),
    ]

    document = evaluate(SCAN_REF, facts).document

    assert (document["status"], document["final"], document["decidedBy"]) == (
        "APPROVED",
        True,
        "manual",
    )
    assert (document["finished"], document["awaitingManualReview"]) == (True, False)
    assert document["lastStatusCheck"] == {
        "at": "2026-11-03T09:03:00.000000Z",
        "status": "APPROVED",
        "cause": None,
    }


def test_an_answer_without_a_manual_verdict_is_an_automated_decision() -> None:
    document = evaluate(SCAN_REF, [registered(), check(2, "DENIED")]).document

    assert (document["status"], document["decidedBy"], document["attempts"]) == (
        "DENIED",
        "auto",
        0,
    )


def test_expired_is_an_expiry_and_reviewing_awaits_a_reviewer() -> None:
    expired = evaluate(SCAN_REF, [registered(), check(2, "EXPIRED")]).document
    reviewing = evaluate(SCAN_REF, [registered(), check(2, "REVIEWING")]).document

    assert (expired["status"], expired["final"], expired["decidedBy"]) == ("EXPIRED", True, None)
    assert (reviewing["status"], reviewing["finished"]) == ("PENDING", False)
    assert reviewing["awaitingManualReview"] is True


def test_an_unusable_answer_changes_nothing_but_is_the_last_check() -> None:
    before = evaluate(SCAN_REF, [registered()]).document
    after = evaluate(SCAN_REF, [registered(), check(2, None, cause="unknown-status")]).document

    assert (after["status"], after["final"], after["finished"]) == (before["status"], False, False)
    assert after["lastStatusCheck"]["cause"] == "unknown-status"


def test_an_answer_sorts_after_the_results_known_and_before_a_later_attempt() -> None:
    answered = [result(1, "auto-finished", True, "DENIED"), check(2, "APPROVED")]
    retried = [*answered, result(3, "auto-finished", True, "SUSPECTED", finish=2000)]
    late_same_attempt = [*answered, result(3, "manual-finished", True, "DENIED")]

    assert evaluate(SCAN_REF, answered).document["status"] == "APPROVED"
    assert evaluate(SCAN_REF, retried).document["status"] == "SUSPECTED"
    assert evaluate(SCAN_REF, late_same_attempt).document["status"] == "APPROVED"


def test_the_deadline_is_registration_plus_expiry_plus_session_plus_grace() -> None:
    default = evaluate(SCAN_REF, [registered()]).document
    short = evaluate(SCAN_REF, [registered(expiry=60, session=30)]).document
    unregistered = evaluate(SCAN_REF, [result(1, "auto-finished", False, "REVIEWING")]).document

    assert default["expectedBy"] == "2026-11-02T10:10:00.000000Z"
    assert default["deadline"] == "2026-11-02T11:10:00.000000Z"
    assert short["deadline"] == "2026-11-02T10:01:30.000000Z"
    assert (unregistered["deadline"], unregistered["overdue"]) == (None, False)
    assert not is_overdue(default, datetime(2026, 11, 2, 11, 10, tzinfo=UTC))
    assert is_overdue(default, datetime(2026, 11, 2, 11, 10, 1, tzinfo=UTC))
    assert not is_overdue(unregistered, datetime(2030, 1, 1, tzinfo=UTC))


def test_a_finished_verification_is_never_overdue() -> None:
    finished = evaluate(SCAN_REF, [registered(), result(2, "cancelled", True, "DENIED")]).document

    assert finished["finished"] is True
    assert not is_overdue(finished, datetime(2030, 1, 1, tzinfo=UTC))
