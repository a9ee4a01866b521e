"""Rules version 2 (rule 2 grows): a legacy result without ``final`` that carries a manual
verdict is manual. A replay under the new rules shows which verifications it changed."""

from __future__ import annotations

import pytest

import projections.rules
from app.service.replay import replay
from app.service.services import Services
from domain.reports import Kind
from projections.facts import Fact
from tests.support.idenfy import encode, result_body
from tests.support.scenario import Step, head, tell, wait_for_views

FINISH = 1554727002


def story(scan_ref: str) -> list[Step]:
    """iDenfy's 2019 shape: an automated SUSPECTED result, then the reviewer's verdict on
    a legacy result with no ``final`` (arriving first, as deliveries may)."""
    verdict = result_body(scan_ref, final=None, overall="APPROVED", finish_time=FINISH)
    verdict["status"] |= {"manualDocument": "DOC_VALIDATED", "manualFace": "FACE_MATCH"}
    automated = result_body(scan_ref, final=True, overall="SUSPECTED", finish_time=FINISH)
    automated["status"] |= {"manualDocument": None, "manualFace": None}
    return [
        Step(scan_ref, Kind.IDENTIFICATION, encode(verdict)),
        Step(scan_ref, Kind.AUTO_FINISHED, encode(automated)),
    ]


def version_one_review(fact: Fact, results: list[Fact]) -> int:
    """Rule 2 as version 1 had it: no word on manual verdicts."""
    if fact.kind == "identification" and fact.final is None:
        fact = fact._replace(manual_document=None, manual_face=None)
    return ORIGINAL_REVIEW(fact, results)


ORIGINAL_REVIEW = projections.rules.review


def test_a_legacy_manual_verdict_is_in_force_and_a_replay_counts_the_change(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old_rules:
        old_rules.setattr(projections.rules, "review", version_one_review)
        old_rules.setattr(projections.rules, "RULES_VERSION", 1)
        workers = services.start_projections()
        for scan_ref in ("legacy-1", "legacy-2"):
            for step in story(scan_ref):
                tell(services.ledger, step)
        wait_for_views(services.views, head(services.ledger))
        workers.stop()
        before = services.views.status.status("legacy-1")
        assert before is not None
        assert (before["status"], before["decidedBy"]) == ("SUSPECTED", "auto")

    summary = replay(services.ledger, services.views.sql, drop_grace=0)

    assert summary.status_changed == 2
    after = services.views.status.status("legacy-1")
    assert after is not None
    assert (after["status"], after["decidedBy"], after["rulesVersion"]) == (
        "APPROVED",
        "manual",
        projections.rules.RULES_VERSION,
    )
    assert after["attempts"] == 1
