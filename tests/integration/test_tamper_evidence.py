"""Someone with write access to the database edits the ledger; the chains and digests show it.

The run of deliveries and the event table edited with plain SQL are in
``tests/support/tampering.py``, shared with the CLI and auditor API tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.service.audit import verify_ledger
from app.service.services import Services
from domain.reports import Kind
from tests.support.tampering import (
    AUDITOR,
    CANCELLED,
    CHAIN_LENGTHS,
    FINISH_TIME,
    INSIDE_A_CHAIN,
    LEGACY,
    MANUAL,
    REATTEMPT,
    STORY,
    EventTable,
    Tampering,
    forged_history,
    last_position,
    places,
    problems_at,
    record,
    registered,
    result,
    save_digest,
)


@pytest.mark.parametrize("tampering", INSIDE_A_CHAIN, ids=str)
def test_tampering_inside_a_chain_is_reported_with_its_scan_ref_and_sequence(
    services: Services, database_url: str, tmp_path: Path, tampering: Tampering
) -> None:
    record(services.ledger)
    saved = save_digest(services.ledger, tmp_path)

    tampering.edit(EventTable(database_url), services.ledger)

    for report in (
        verify_ledger(services.ledger, datetime.now(UTC)),
        verify_ledger(services.ledger, datetime.now(UTC), saved),
    ):
        assert not report.intact
        found = problems_at(report, tampering.scan_ref, tampering.sequence)
        assert any(tampering.reason in p.reason for p in found), report.problems
        assert {ref for ref, _ in places(report)} == {MANUAL}, report.problems


def test_an_untampered_ledger_is_intact_and_its_digest_is_the_one_the_api_gives(
    services: Services, client: TestClient
) -> None:
    receipts = record(services.ledger)
    services.start_projections()

    report = verify_ledger(services.ledger, datetime.now(UTC))
    answer = client.get(f"/audit/digest?minPosition={receipts[-1].position}", headers=AUDITOR)

    assert report.intact, report.problems
    assert report.events == 10
    assert {ref: seq for ref, (seq, _) in report.digest.heads.items()} == CHAIN_LENGTHS
    assert answer.status_code == 200
    assert answer.json()["events"] == report.digest.events == 10
    assert answer.json()["digest"] == report.digest.digest
    assert answer.json()["position"] == last_position(services.ledger)


def test_the_heads_of_a_saved_digest_are_in_ledger_order_of_each_chains_first_event(
    services: Services, tmp_path: Path
) -> None:
    record(services.ledger)

    saved = save_digest(services.ledger, tmp_path)

    assert list(saved.heads) == [MANUAL, REATTEMPT, CANCELLED, LEGACY]
    assert saved.events == 10


def test_events_appended_since_a_saved_digest_are_fine(services: Services, tmp_path: Path) -> None:
    record(services.ledger)
    saved = save_digest(services.ledger, tmp_path)

    later = result(MANUAL, Kind.RESUBMITTED, 20, final=False, overall="SUSPECTED",
                   finish_time=FINISH_TIME + 900)  # fmt: skip
    record(services.ledger, (later, registered("0c0ffee0-5a7d-11ef-9c2a-0242ac120002")))
    report = verify_ledger(services.ledger, datetime.now(UTC), saved)

    assert report.intact, report.problems
    assert report.events == 12
    assert report.digest.digest != saved.digest


def test_cutting_the_tail_of_a_chain_is_found_only_against_a_saved_digest(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    saved = save_digest(services.ledger, tmp_path)

    EventTable(database_url).delete(MANUAL, 4)
    alone = verify_ledger(services.ledger, datetime.now(UTC))
    against = verify_ledger(services.ledger, datetime.now(UTC), saved)

    assert alone.intact
    assert alone.digest.digest != saved.digest
    assert not against.intact
    [problem] = against.problems
    assert (problem.scan_ref, problem.sequence) == (MANUAL, 4)
    assert "cut short" in problem.reason


def test_deleting_a_whole_chain_is_found_only_against_a_saved_digest(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    saved = save_digest(services.ledger, tmp_path)

    EventTable(database_url).delete(LEGACY)
    alone = verify_ledger(services.ledger, datetime.now(UTC))
    against = verify_ledger(services.ledger, datetime.now(UTC), saved)

    assert alone.intact
    [problem] = against.problems
    assert (problem.scan_ref, problem.sequence) == (LEGACY, 2)
    assert "missing" in problem.reason


def test_a_consistently_rewritten_chain_is_found_only_against_a_saved_digest(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    saved = save_digest(services.ledger, tmp_path)
    table = EventTable(database_url)
    forged = forged_history(STORY, MANUAL, "DENIED")
    assert [e.originator_version for e in forged] == [1, 2, 3, 4]

    table.replace_chain(services.ledger, forged)
    alone = verify_ledger(services.ledger, datetime.now(UTC))
    against = verify_ledger(services.ledger, datetime.now(UTC), saved)

    assert table.state(MANUAL, 3)["overall"] == "DENIED"
    assert table.count() == 10
    assert alone.intact, alone.problems
    assert alone.digest.digest != saved.digest
    assert not against.intact
    [problem] = against.problems
    assert (problem.scan_ref, problem.sequence) == (MANUAL, 4)
    assert "rewritten" in problem.reason
