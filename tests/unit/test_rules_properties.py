"""Properties of the status rules over generated histories of one verification.

Without cancels and expiries the document must not depend on the arrival order.
Rule 4 judges a cancel or an expiry by what was known when it arrived, so those
histories are arrival-order dependent by design; one example below shows it.
"""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings

from projections.facts import Fact
from projections.rules import evaluate
from tests.support.histories import (
    NOT_RESULTS,
    PROPERTY,
    SCAN_REF,
    arrive,
    histories,
    without_arrival,
)


@PROPERTY
@given(histories())
def test_every_arrival_order_of_the_same_results_gives_the_same_document(
    facts: list[Fact],
) -> None:
    expected = without_arrival(evaluate(SCAN_REF, facts).document)

    for order in itertools.permutations(facts):
        document = evaluate(SCAN_REF, arrive(order)).document
        assert without_arrival(document) == expected
        assert document["events"] == len(facts)


def result(kind: str, final: bool | None, overall: str, finish_time: int = 1000) -> Fact:
    return Fact(0, 0, kind, "", final=final, overall=overall, finish_time=finish_time)


# A legacy result turns manual only when its preliminary twin arrives, after an
# automated result of the same attempt had taken force over it.
RECLASSIFIED_LEGACY = arrive(
    [
        result("identification", True, "DENIED"),
        result("auto-finished", True, "APPROVED"),
        result("auto-finished", False, "REVIEWING"),
    ]
)


@settings(PROPERTY, max_examples=500)
@given(histories(closings=True, max_results=8))
@example(RECLASSIFIED_LEGACY)
def test_the_timeline_leaves_exactly_the_result_in_force_unsuperseded(facts: list[Fact]) -> None:
    evaluation = evaluate(SCAN_REF, facts)
    results = [e for e in evaluation.timeline if e["kind"] not in NOT_RESULTS]

    standing = [entry for entry in results if entry["supersededBy"] is None]

    assert len(evaluation.timeline) == len(facts)
    if not results:
        assert evaluation.in_force is None
        assert evaluation.document["status"] == "PENDING"
        return
    assert len(standing) == 1
    [entry] = standing
    assert evaluation.in_force is not None
    assert entry["sequence"] == evaluation.in_force.sequence
    assert entry["status"] == evaluation.document["status"]
    assert entry["final"] == evaluation.document["final"]
    assert entry["lateArrival"] is False


def test_a_cancel_depends_on_what_was_known_when_it_arrived() -> None:
    approved = result("auto-finished", True, "APPROVED")
    cancel = result("cancelled", True, "APPROVED")._replace(finish_time=None)

    result_first = evaluate(SCAN_REF, arrive([approved, cancel])).document
    cancel_first = evaluate(SCAN_REF, arrive([cancel, approved])).document

    assert result_first["status"] == "CANCELED"
    assert cancel_first["status"] == "APPROVED"
