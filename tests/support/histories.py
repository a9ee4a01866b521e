"""Generated histories of one verification (hypothesis strategies) and the settings of the
property tests over them: shared by the rules' and the fact codec's properties."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from projections.facts import Fact

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
CLIENT_ID = "user-1"
ARRIVAL_FIELDS = (
    "firstEventAt", "lastEventAt", "lastPosition", "registeredAt", "expectedBy", "deadline",
    "sequences",
)  # fmt: skip
RESULT_KINDS = ("auto-finished", "manual-finished", "identification", "resubmitted")
CLOSING_KINDS = ("cancelled", "expired")
FINISH_TIMES = (None, 1718786500, 1718790100)
OVERALLS = ("APPROVED", "DENIED", "SUSPECTED", "REVIEWING", "EXPIRED", "NEW_VENDOR_VALUE")
FRAUD_TAGS = ("AUTO_SUSPICIOUS", "MANUAL_FRAUD", "NEW_FRAUD_TAG")
MISMATCH_TAGS = ("NAME", "DATE_OF_BIRTH", "NEW_MISMATCH_TAG")
NOT_RESULTS = ("registered", "document-expiration", "status-checked")
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
            if not place[1]:
                # An automated place carries no reviewer's verdict: on a legacy result
                # without ``final`` one would make it manual (rule 2).
                decided[place]["manual_face"] = None
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
