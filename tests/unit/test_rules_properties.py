"""Properties of the status rules over generated histories of one verification.

Without cancels and expiries the document must not depend on the arrival order.
Rule 4 judges a cancel or an expiry by what was known when it arrived, so those
histories are arrival-order dependent by design; one example below shows it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from projections.facts import Fact
from projections.rules import evaluate

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
CLIENT_ID = "user-1"
ARRIVAL_FIELDS = ("firstEventAt", "lastEventAt", "lastPosition")
RESULT_KINDS = ("auto-finished", "manual-finished", "identification", "resubmitted")
CLOSING_KINDS = ("cancelled", "expired")
FINISH_TIMES = (None, 1718786500, 1718790100)
OVERALLS = ("APPROVED", "DENIED", "SUSPECTED", "REVIEWING", "EXPIRED", "NEW_VENDOR_VALUE")
FRAUD_TAGS = ("AUTO_SUSPICIOUS", "MANUAL_FRAUD", "NEW_FRAUD_TAG")
MISMATCH_TAGS = ("NAME", "DATE_OF_BIRTH", "NEW_MISMATCH_TAG")
NOT_RESULTS = ("registered", "document-expiration")
CHECKS = (None, "DOC_VALIDATED", "FACE_MATCH", "UNKNOWN_CHECK")

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Shape = tuple[str, int | None, bool | None]


def arrive(facts: Sequence[Fact]) -> list[Fact]:
    """The facts numbered in the order given, as the ledger would record them."""
    return [
        f._replace(sequence=n, position=500 + n, received_at=f"2024-06-19T09:{n:02d}:00Z")
        for n, f in enumerate(facts, start=1)
    ]


def is_manual(shape: Shape, shapes: Sequence[Shape]) -> bool:
    """Rule 2, restated here so that the generator can keep equal results equal."""
    kind, finish_time, final = shape
    if kind == "manual-finished":
        return True
    return (
        kind == "identification"
        and final is not False
        and any(f is False and t == finish_time for k, t, f in shapes if k not in CLOSING_KINDS)
    )


@st.composite
def decisions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "overall": draw(st.sampled_from(OVERALLS)),
        "fraud_tags": tuple(draw(st.lists(st.sampled_from(FRAUD_TAGS), max_size=2, unique=True))),
        "mismatch_tags": tuple(
            draw(st.lists(st.sampled_from(MISMATCH_TAGS), max_size=2, unique=True))
        ),
        "auto_document": draw(st.sampled_from(CHECKS)),
        "manual_face": draw(st.sampled_from(CHECKS)),
    }


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    closings: bool = False,
    max_results: int = 4,
    finish_times: Sequence[int | None] = FINISH_TIMES,
) -> list[Fact]:
    """One verification's deliveries in some arrival order.

    Results that share their place in the order of rule 1 (attempt, review, finality)
    carry the same decision, as redeliveries do; otherwise the rule's last tiebreak,
    arrival, would legitimately tell them apart.
    """
    # Swarm testing: each history uses a few of the kinds and finishTimes, so that
    # crowded attempts of mixed kinds are as likely as spread-out ones.
    kinds = RESULT_KINDS + (CLOSING_KINDS if closings else ())
    kinds_used = draw(st.lists(st.sampled_from(kinds), min_size=1, unique=True))
    times_used = draw(st.lists(st.sampled_from(finish_times), min_size=1, unique=True))
    shapes: list[Shape] = draw(
        st.lists(
            st.tuples(
                st.sampled_from(kinds_used),
                st.sampled_from(times_used),
                st.sampled_from((True, False, None)),
            ),
            max_size=max_results,
        )
    )
    decided: dict[tuple[int, bool, bool], dict[str, Any]] = {}
    facts: list[Fact] = []
    for copy, shape in enumerate(shapes):
        kind, finish_time, final = shape
        place = (
            -1 if finish_time is None else finish_time,
            is_manual(shape, shapes),
            final is not False,
        )
        if place not in decided or kind in CLOSING_KINDS:
            decided[place] = draw(decisions())
        named = draw(st.booleans())
        facts.append(
            Fact(
                sequence=0,
                position=0,
                kind=kind,
                received_at="",
                client_id=CLIENT_ID if named else None,
                external_ref="onb-1" if named else None,
                payload_sha256=hashlib.sha256(f"{shape}|{copy}".encode()).hexdigest(),
                final=final,
                finish_time=finish_time,
                **decided[place],
            )
        )
    if draw(st.booleans()):
        allowed = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=3)))
        facts.append(Fact(0, 0, "registered", "", client_id=CLIENT_ID, max_reattempts=allowed))
    if draw(st.booleans()):
        facts.append(
            Fact(
                0,
                0,
                "document-expiration",
                "",
                payload_sha256="ab" * 32,
                threshold="30",
                document_expiration="2025-01-31",
            )
        )
    return arrive(draw(st.permutations(facts)))


def without_arrival(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name not in ARRIVAL_FIELDS}


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
