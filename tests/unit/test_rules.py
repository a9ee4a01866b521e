"""Status rules, version 2: which result is in force, whatever order the webhooks arrived in."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from projections.facts import Fact
from projections.rules import RULES_VERSION, Evaluation, evaluate

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
CLIENT_ID = "user-1"
FIRST_POSITION = 100
ARRIVAL_FIELDS = ("firstEventAt", "lastEventAt", "lastPosition", "sequences")
ENTRY_FIELDS = {
    "sequence",
    "kind",
    "receivedAt",
    "final",
    "status",
    "preliminary",
    "lateArrival",
    "supersededBy",
    "payloadSha256",
    "prevHash",
    "hash",
}

# finishTimes (epoch seconds) of successive attempts
FIRST, SECOND, THIRD = 1718786500, 1718790100, 1718793700


def received_at(sequence: int) -> str:
    return f"2024-06-19T08:{sequence:02d}:00Z"


def result(
    kind: str,
    finish_time: int | None,
    *,
    final: bool | None = True,
    overall: str | None = "APPROVED",
    copy: int = 0,
    client_id: str | None = CLIENT_ID,
    external_ref: str | None = None,
) -> Fact:
    """A webhook result not yet placed in arrival order; ``copy`` varies its bytes."""
    digest = hashlib.sha256(f"{kind}|{finish_time}|{final}|{overall}|{copy}".encode()).hexdigest()
    return Fact(
        sequence=0,
        position=0,
        kind=kind,
        received_at="",
        client_id=client_id,
        external_ref=external_ref,
        payload_sha256=digest,
        final=final,
        overall=overall,
        finish_time=finish_time,
    )


def auto(finish_time: int | None, overall: str = "APPROVED", **changes: Any) -> Fact:
    return result("auto-finished", finish_time, overall=overall, **changes)


def preliminary(finish_time: int | None, overall: str = "REVIEWING", **changes: Any) -> Fact:
    return result("auto-finished", finish_time, final=False, overall=overall, **changes)


def manual(finish_time: int | None, overall: str = "APPROVED", **changes: Any) -> Fact:
    return result("manual-finished", finish_time, overall=overall, **changes)


def legacy(finish_time: int | None, **changes: Any) -> Fact:
    return result("identification", finish_time, **changes)


def registered(
    client_id: str = CLIENT_ID,
    external_ref: str | None = "onb-1",
    max_reattempts: int | None = 1,
    max_image_recaptures: int | None = 3,
) -> Fact:
    return Fact(
        sequence=0,
        position=0,
        kind="registered",
        received_at="",
        client_id=client_id,
        external_ref=external_ref,
        max_reattempts=max_reattempts,
        max_image_recaptures=max_image_recaptures,
    )


def notice(threshold: str = "30", date: str = "2025-01-31") -> Fact:
    digest = hashlib.sha256(f"notice|{threshold}|{date}".encode()).hexdigest()
    return Fact(
        sequence=0,
        position=0,
        kind="document-expiration",
        received_at="",
        client_id=CLIENT_ID,
        payload_sha256=digest,
        threshold=threshold,
        document_expiration=date,
    )


def chain_hash(sequence: int) -> str | None:
    return hashlib.sha256(f"event {sequence}".encode()).hexdigest() if sequence > 0 else None


def arrive(*facts: Fact) -> list[Fact]:
    """The facts numbered and chained in the order given, as the ledger would record them."""
    return [
        f._replace(
            sequence=n,
            position=FIRST_POSITION + n,
            received_at=received_at(n),
            prev_hash=chain_hash(n - 1),
            hash=chain_hash(n),
        )
        for n, f in enumerate(facts, start=1)
    ]


def evaluated(*facts: Fact) -> Evaluation:
    return evaluate(SCAN_REF, arrive(*facts))


def document(*facts: Fact) -> dict[str, Any]:
    return evaluated(*facts).document


def entries(*facts: Fact) -> dict[int, dict[str, Any]]:
    return {entry["sequence"]: entry for entry in evaluated(*facts).timeline}


def without_arrival(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in doc.items() if name not in ARRIVAL_FIELDS}


# Rule 1: within one attempt, manual beats automated and final beats preliminary.


def test_a_manual_result_that_arrived_before_the_preliminary_automated_one_stays_in_force() -> None:
    doc = document(manual(FIRST, "DENIED"), preliminary(FIRST))

    assert doc["status"] == "DENIED"
    assert doc["decidedBy"] == "manual"
    assert doc["final"] is True
    assert doc["awaitingManualReview"] is False


def test_a_preliminary_arriving_after_the_manual_result_is_late_and_superseded_by_it() -> None:
    timeline = entries(manual(FIRST, "DENIED"), preliminary(FIRST))

    assert timeline[2]["lateArrival"] is True
    assert timeline[2]["supersededBy"] == 1
    assert timeline[1]["lateArrival"] is False
    assert timeline[1]["supersededBy"] is None


def test_a_manual_result_after_its_preliminary_supersedes_it_on_time() -> None:
    timeline = entries(preliminary(FIRST), manual(FIRST, "DENIED"))

    assert timeline[1]["lateArrival"] is False
    assert timeline[1]["supersededBy"] == 2
    assert timeline[2]["lateArrival"] is False
    assert timeline[2]["supersededBy"] is None


def test_manual_and_preliminary_results_give_one_document_in_either_arrival_order() -> None:
    manual_first = document(manual(FIRST, "DENIED"), preliminary(FIRST))
    preliminary_first = document(preliminary(FIRST), manual(FIRST, "DENIED"))

    assert without_arrival(manual_first) == without_arrival(preliminary_first)
    assert manual_first["attempts"] == 1


def test_a_final_automated_result_is_never_replaced_by_a_late_preliminary_of_its_attempt() -> None:
    doc = document(auto(FIRST, "APPROVED"), preliminary(FIRST, "REVIEWING"))

    assert doc["status"] == "APPROVED"
    assert doc["final"] is True
    assert doc["decidedBy"] == "auto"
    assert doc["awaitingManualReview"] is False
    assert entries(auto(FIRST), preliminary(FIRST))[2]["lateArrival"] is True


def test_a_manual_result_is_never_replaced_by_a_late_automated_one_of_its_attempt() -> None:
    doc = document(manual(FIRST, "DENIED"), auto(FIRST, "APPROVED"))

    assert doc["status"] == "DENIED"
    assert doc["decidedBy"] == "manual"


def test_among_equal_results_of_one_attempt_the_last_to_arrive_is_in_force() -> None:
    timeline = entries(auto(FIRST, copy=1), auto(FIRST, copy=2))

    assert timeline[1]["supersededBy"] == 2
    assert timeline[2]["supersededBy"] is None
    assert timeline[2]["lateArrival"] is False


# Rule 6: attempts and re-attempts.


def test_redelivered_automated_results_with_fresh_file_urls_are_one_attempt() -> None:
    copies = [preliminary(FIRST, copy=n) for n in range(3)] + [auto(FIRST, "DENIED", copy=9)]
    facts = arrive(*copies)

    doc = evaluate(SCAN_REF, facts).document

    assert len({f.payload_sha256 for f in facts}) == 4
    assert doc["attempts"] == 1
    assert doc["reattemptsUsed"] == 0
    assert doc["reattemptsRemaining"] == 1
    assert doc["status"] == "DENIED"


def test_a_reattempt_after_a_denial_takes_force_while_still_preliminary() -> None:
    doc = document(registered(), auto(FIRST, "DENIED"), preliminary(SECOND, "REVIEWING"))

    assert doc["status"] == "REVIEWING"
    assert doc["final"] is False
    assert doc["decidedBy"] == "auto"
    assert doc["awaitingManualReview"] is True
    assert doc["attempts"] == 2
    assert doc["reattemptsUsed"] == 1
    assert doc["reattemptsAllowed"] == 1
    assert doc["reattemptsRemaining"] == 0


def test_an_older_attempt_arriving_late_does_not_take_force_back() -> None:
    doc = document(preliminary(SECOND, "REVIEWING"), manual(FIRST, "DENIED"))
    timeline = entries(preliminary(SECOND, "REVIEWING"), manual(FIRST, "DENIED"))

    assert doc["status"] == "REVIEWING"
    assert doc["awaitingManualReview"] is True
    assert timeline[2]["lateArrival"] is True
    assert timeline[2]["supersededBy"] == 1


@pytest.mark.parametrize(
    ("allowed", "finish_times", "used", "remaining"),
    [
        (0, [FIRST, SECOND], 1, 0),
        (1, [FIRST, SECOND], 1, 0),
        (3, [FIRST, SECOND], 1, 2),
        (3, [FIRST, SECOND, THIRD], 2, 1),
        (1, [FIRST, SECOND, THIRD], 2, 0),
    ],
)
def test_reattempts_are_counted_against_the_registrations_allowance(
    allowed: int, finish_times: list[int], used: int, remaining: int
) -> None:
    attempts = [auto(t, "DENIED") for t in finish_times]

    doc = document(registered(max_reattempts=allowed), *attempts)

    assert doc["attempts"] == len(finish_times)
    assert doc["reattemptsAllowed"] == allowed
    assert doc["reattemptsUsed"] == used
    assert doc["reattemptsRemaining"] == remaining


def test_one_reattempt_is_allowed_without_a_registration() -> None:
    doc = document(auto(FIRST, "DENIED"))

    assert doc["reattemptsAllowed"] == 1
    assert doc["reattemptsRemaining"] == 1


def test_manual_results_and_resubmissions_are_not_attempts() -> None:
    doc = document(
        auto(FIRST, "DENIED"),
        manual(FIRST, "DENIED"),
        manual(SECOND, "APPROVED"),
        result("resubmitted", THIRD, final=False, overall="REVIEWING"),
    )

    assert doc["attempts"] == 1
    assert doc["reattemptsUsed"] == 0


# Rule 4: expiry and cancel.

CLOSING = [("expired", "EXPIRED"), ("cancelled", "CANCELED")]


@pytest.mark.parametrize(("kind", "status"), CLOSING)
@pytest.mark.parametrize(("payload_final", "payload_overall"), [(False, "APPROVED"), (None, None)])
def test_a_cancel_or_expiry_puts_its_own_final_status_in_force_whatever_its_payload_says(
    kind: str, status: str, payload_final: bool | None, payload_overall: str | None
) -> None:
    closing = result(kind, FIRST, final=payload_final, overall=payload_overall)

    doc = document(preliminary(FIRST), closing)
    [_, entry] = evaluated(preliminary(FIRST), closing).timeline

    assert doc["status"] == status
    assert doc["final"] is True
    assert doc["awaitingManualReview"] is False
    assert (entry["status"], entry["final"], entry["preliminary"]) == (status, True, False)


@pytest.mark.parametrize(("kind", "status"), CLOSING)
def test_a_result_finished_after_everything_known_at_the_closing_takes_force_after_it(
    kind: str, status: str
) -> None:
    facts = (auto(FIRST, "DENIED"), result(kind, None), preliminary(SECOND, "REVIEWING"))

    doc = document(*facts)
    timeline = entries(*facts)

    assert document(*facts[:2])["status"] == status
    assert doc["status"] == "REVIEWING"
    assert doc["awaitingManualReview"] is True
    assert timeline[2]["supersededBy"] == 3
    assert timeline[3]["lateArrival"] is False


@pytest.mark.parametrize(("kind", "status"), CLOSING)
@pytest.mark.parametrize("late", [manual(FIRST, "APPROVED"), auto(FIRST - 60, "APPROVED")])
def test_a_result_finished_no_later_than_one_known_at_the_closing_does_not_take_force(
    kind: str, status: str, late: Fact
) -> None:
    facts = (preliminary(FIRST), result(kind, None), late)

    doc = document(*facts)
    timeline = entries(*facts)

    assert doc["status"] == status
    assert doc["final"] is True
    assert doc["decidedBy"] is None
    assert timeline[3]["lateArrival"] is True
    assert timeline[3]["supersededBy"] == 2


@pytest.mark.parametrize(("kind", "status"), CLOSING)
def test_the_closings_own_finish_time_counts_as_known(kind: str, status: str) -> None:
    doc = document(result(kind, SECOND), manual(SECOND, "APPROVED"))

    assert doc["status"] == status
    assert document(result(kind, SECOND), manual(THIRD, "APPROVED"))["status"] == "APPROVED"


def test_a_result_known_before_the_cancel_stays_superseded_whatever_its_finish_time() -> None:
    timeline = entries(manual(SECOND, "APPROVED"), result("cancelled", FIRST))

    assert document(manual(SECOND, "APPROVED"), result("cancelled", FIRST))["status"] == "CANCELED"
    assert timeline[1]["supersededBy"] == 2
    assert timeline[2]["lateArrival"] is False


def test_a_cancel_with_nothing_known_gives_way_to_any_result_with_a_finish_time() -> None:
    doc = document(result("cancelled", None), auto(FIRST, "APPROVED"))

    assert doc["status"] == "APPROVED"
    assert doc["decidedBy"] == "auto"


# Rule 3: resubmissions.


def test_a_preliminary_resubmission_reopens_a_final_verification() -> None:
    resubmission = result("resubmitted", SECOND, final=False, overall="REVIEWING")

    doc = document(auto(FIRST, "DENIED"), manual(FIRST, "DENIED"), resubmission)
    timeline = entries(auto(FIRST, "DENIED"), manual(FIRST, "DENIED"), resubmission)

    assert doc["status"] == "REVIEWING"
    assert doc["final"] is False
    assert doc["awaitingManualReview"] is True
    assert timeline[2]["supersededBy"] == 3
    assert timeline[3]["preliminary"] is True


def test_a_preliminary_resubmission_of_the_decided_attempt_does_not_reopen_it() -> None:
    resubmission = result("resubmitted", FIRST, final=False, overall="REVIEWING")

    doc = document(manual(FIRST, "DENIED"), resubmission)

    assert doc["status"] == "DENIED"
    assert doc["awaitingManualReview"] is False


# Rule 2: the legacy identification result.


@pytest.mark.parametrize("twin_first", [True, False], ids=["twin-first", "twin-last"])
@pytest.mark.parametrize("final", [True, None], ids=["final", "final-missing"])
def test_a_final_legacy_result_with_a_preliminary_twin_is_manual_in_either_order(
    twin_first: bool, final: bool | None
) -> None:
    twin = legacy(FIRST, final=False, overall="REVIEWING")
    decision = legacy(FIRST, final=final, overall="DENIED")

    doc = document(twin, decision) if twin_first else document(decision, twin)

    assert doc["status"] == "DENIED"
    assert doc["decidedBy"] == "manual"
    assert doc["final"] is True
    assert doc["awaitingManualReview"] is False
    assert doc["attempts"] == 1


def test_a_final_legacy_result_alone_is_automated_and_an_attempt() -> None:
    doc = document(legacy(FIRST, overall="APPROVED"), legacy(SECOND, overall="DENIED"))

    assert doc["status"] == "DENIED"
    assert doc["decidedBy"] == "auto"
    assert doc["attempts"] == 2
    assert doc["reattemptsUsed"] == 1


def test_a_legacy_result_without_final_counts_as_final() -> None:
    doc = document(legacy(FIRST, final=None, overall="APPROVED"))
    [entry] = evaluated(legacy(FIRST, final=None)).timeline

    assert doc["final"] is True
    assert doc["awaitingManualReview"] is False
    assert doc["decidedBy"] == "auto"
    assert (entry["final"], entry["preliminary"]) == (True, False)


@pytest.mark.parametrize(
    ("document_verdict", "face_verdict"),
    [("DOC_VALIDATED", None), (None, "FACE_MATCH")],
    ids=["manual-document", "manual-face"],
)
def test_a_legacy_result_without_final_that_carries_a_manual_verdict_is_manual(
    document_verdict: str | None, face_verdict: str | None
) -> None:
    """Rule 2 of version 2: iDenfy's results from before ``final`` carry the reviewer's
    verdict; such a result is the manual decision, and not an attempt."""
    decision = legacy(FIRST, final=None, overall="APPROVED")._replace(
        manual_document=document_verdict, manual_face=face_verdict
    )

    doc = document(decision)

    assert doc["decidedBy"] == "manual"
    assert doc["final"] is True
    assert doc["attempts"] == 0


def test_a_legacy_manual_verdict_outranks_an_automated_result_of_its_attempt() -> None:
    automated = auto(FIRST, overall="SUSPECTED")
    decision = legacy(FIRST, final=None, overall="APPROVED")._replace(manual_face="FACE_MATCH")

    for order in ((decision, automated), (automated, decision)):
        doc = document(*order)
        assert (doc["status"], doc["decidedBy"]) == ("APPROVED", "manual")


def test_a_manual_verdict_on_a_result_that_has_final_changes_nothing() -> None:
    doc = document(legacy(FIRST, final=True)._replace(manual_document="DOC_VALIDATED"))

    assert doc["decidedBy"] == "auto"
    assert doc["attempts"] == 1


def test_a_preliminary_legacy_result_is_automated_and_awaits_manual_review() -> None:
    doc = document(legacy(FIRST, final=False, overall="REVIEWING"))

    assert doc["decidedBy"] == "auto"
    assert doc["awaitingManualReview"] is True
    assert doc["attempts"] == 1


def test_a_legacy_result_that_becomes_manual_is_not_superseded_while_in_force() -> None:
    # The legacy result is automated until its preliminary twin arrives; then, as a
    # manual result, it comes after the automated one that arrived in between.
    facts = (legacy(FIRST, overall="DENIED"), auto(FIRST, "APPROVED"), preliminary(FIRST))

    evaluation = evaluated(*facts)
    timeline = entries(*facts)

    assert evaluation.document["status"] == "DENIED"
    assert evaluation.document["decidedBy"] == "manual"
    assert timeline[1]["supersededBy"] is None
    assert [e["sequence"] for e in timeline.values() if e["supersededBy"] is None] == [1]


def test_an_automated_result_arriving_after_the_legacy_manual_one_is_a_late_arrival() -> None:
    facts = (legacy(FIRST, overall="DENIED"), auto(FIRST, "APPROVED"), preliminary(FIRST))

    timeline = entries(*facts)

    assert timeline[2]["lateArrival"] is True
    assert timeline[2]["supersededBy"] == 1
    assert timeline[3]["lateArrival"] is True


# Registration and identifiers.


def test_a_registration_alone_is_pending() -> None:
    doc = document(registered(max_reattempts=2, max_image_recaptures=5))

    assert doc["status"] == "PENDING"
    assert doc["final"] is False
    assert doc["decidedBy"] is None
    assert doc["awaitingManualReview"] is False
    assert doc["attempts"] == 0
    assert (doc["reattemptsAllowed"], doc["reattemptsUsed"], doc["reattemptsRemaining"]) == (
        2,
        0,
        2,
    )
    assert doc["maxImageRecaptures"] == 5
    assert (doc["fraudTags"], doc["mismatchTags"], doc["suspected"]) == ([], [], False)
    assert [doc[f] for f in ("autoDocument", "autoFace", "manualDocument", "manualFace")] == [
        None
    ] * 4


def test_identifiers_come_from_the_registration_wherever_it_arrived() -> None:
    webhook = auto(FIRST, external_ref="from-webhook")

    doc = document(webhook, registered(external_ref="onb-1"))

    assert (doc["clientId"], doc["externalRef"]) == (CLIENT_ID, "onb-1")


def test_without_a_registration_identifiers_come_from_the_first_webhook_that_has_them() -> None:
    doc = document(
        preliminary(FIRST, client_id=None),
        auto(FIRST, client_id="user-7", external_ref=None, copy=1),
        manual(FIRST, client_id="user-8", external_ref="onb-8"),
        manual(FIRST, client_id="user-9", external_ref="onb-9", copy=1),
    )

    assert (doc["clientId"], doc["externalRef"]) == ("user-7", "onb-8")


def test_a_registration_without_an_external_ref_takes_it_from_a_webhook() -> None:
    doc = document(registered(external_ref=None), auto(FIRST, external_ref="onb-3"))

    assert (doc["clientId"], doc["externalRef"]) == (CLIENT_ID, "onb-3")


def test_nothing_identifies_a_verification_whose_webhooks_name_no_one() -> None:
    doc = document(auto(FIRST, client_id=None))

    assert (doc["clientId"], doc["externalRef"]) == (None, None)
    assert doc["maxImageRecaptures"] == 3


# Rule 8: document-expiration notices.


def test_document_expiration_notices_never_change_the_status() -> None:
    before = document(registered(), preliminary(FIRST), manual(FIRST, "APPROVED"))
    after = document(registered(), preliminary(FIRST), manual(FIRST, "APPROVED"), notice())
    between = document(registered(), preliminary(FIRST), notice(), manual(FIRST, "APPROVED"))

    changed = {"events", "lastEventAt", "lastPosition", "documentExpiration", "sequences"}
    for doc in (after, between):
        assert {k: v for k, v in doc.items() if k not in changed} == {
            k: v for k, v in before.items() if k not in changed
        }
    assert document(registered(), notice())["status"] == "PENDING"


def test_the_latest_notice_shows_as_the_document_expiration() -> None:
    doc = document(auto(FIRST), notice("30", "2025-01-31"), notice("0", "2025-01-31"))

    assert doc["documentExpiration"] == {"threshold": "0", "date": "2025-01-31"}
    assert document(auto(FIRST))["documentExpiration"] is None


def test_document_expiration_notices_appear_in_the_timeline_without_a_status() -> None:
    facts = (auto(FIRST), notice())

    [_, entry] = evaluated(*facts).timeline

    assert entry["kind"] == "document-expiration"
    assert entry["status"] is None
    assert entry["final"] is None
    assert entry["preliminary"] is False
    assert entry["lateArrival"] is False
    assert entry["supersededBy"] is None
    assert entry["payloadSha256"] == notice().payload_sha256


# Pass-through of vendor values.


def test_unknown_overall_values_pass_through_verbatim() -> None:
    doc = document(auto(FIRST, "SOMETHING_IDENFY_ADDED_LATER"))

    assert doc["status"] == "SOMETHING_IDENFY_ADDED_LATER"
    assert evaluated(auto(FIRST, "Unknown_Case")).timeline[0]["status"] == "Unknown_Case"


def test_tags_and_review_fields_come_from_the_result_in_force_verbatim() -> None:
    superseded = preliminary(FIRST)._replace(fraud_tags=("AUTO_SUSPICIOUS",), auto_face="X")
    in_force = manual(FIRST, "DENIED")._replace(
        fraud_tags=("MANUAL_NEW_TAG_2031",),
        mismatch_tags=("NAME", "Unheard_Of_Mismatch"),
        auto_document="DOC_VALIDATED",
        auto_face="FACE_MATCH",
        manual_document="DOC_FAKE",
        manual_face="FACE_NOT_CHECKED",
    )

    doc = document(in_force, superseded)

    assert doc["fraudTags"] == ["MANUAL_NEW_TAG_2031"]
    assert doc["mismatchTags"] == ["NAME", "Unheard_Of_Mismatch"]
    assert [doc[f] for f in ("autoDocument", "autoFace", "manualDocument", "manualFace")] == [
        "DOC_VALIDATED",
        "FACE_MATCH",
        "DOC_FAKE",
        "FACE_NOT_CHECKED",
    ]


@pytest.mark.parametrize(
    ("overall", "fraud_tags", "mismatch_tags", "suspected"),
    [
        ("SUSPECTED", (), (), True),
        ("APPROVED", ("AUTO_UNVERIFIABLE",), (), True),
        ("APPROVED", (), ("DATE_OF_BIRTH",), True),
        ("DENIED", (), (), False),
        ("APPROVED", (), (), False),
    ],
)
def test_a_verification_is_suspected_when_its_result_in_force_is_suspected_or_tagged(
    overall: str, fraud_tags: tuple[str, ...], mismatch_tags: tuple[str, ...], suspected: bool
) -> None:
    fact = auto(FIRST, overall)._replace(fraud_tags=fraud_tags, mismatch_tags=mismatch_tags)

    assert document(fact)["suspected"] is suspected


def test_a_tagged_result_no_longer_in_force_does_not_make_a_verification_suspected() -> None:
    tagged = auto(FIRST, "SUSPECTED")._replace(fraud_tags=("AUTO_SUSPICIOUS",))

    assert document(tagged, manual(FIRST, "APPROVED"))["suspected"] is False


# Counts, times and version.


def test_the_document_counts_events_and_spans_their_arrival() -> None:
    facts = arrive(registered(), preliminary(FIRST), notice(), manual(FIRST))

    doc = evaluate(SCAN_REF, list(reversed(facts))).document

    assert doc["scanRef"] == SCAN_REF
    assert doc["events"] == 4
    assert doc["firstEventAt"] == received_at(1)
    assert doc["lastEventAt"] == received_at(4)
    assert doc["lastPosition"] == FIRST_POSITION + 4


def test_the_document_names_the_rules_version_that_produced_it() -> None:
    assert RULES_VERSION == 3
    assert document(registered())["rulesVersion"] == RULES_VERSION
    assert document(auto(FIRST))["rulesVersion"] == RULES_VERSION


# The timeline.


def test_the_timeline_has_one_entry_per_fact_in_sequence_order_with_the_contract_fields() -> None:
    facts = arrive(registered(), preliminary(FIRST), notice(), manual(FIRST, "DENIED"))

    timeline = evaluate(SCAN_REF, [facts[2], facts[0], facts[3], facts[1]]).timeline

    assert [entry["sequence"] for entry in timeline] == [1, 2, 3, 4]
    assert all(set(entry) == ENTRY_FIELDS for entry in timeline)
    assert [entry["kind"] for entry in timeline] == [f.kind for f in facts]
    assert [entry["receivedAt"] for entry in timeline] == [f.received_at for f in facts]
    assert [entry["payloadSha256"] for entry in timeline] == [f.payload_sha256 for f in facts]
    assert [entry["prevHash"] for entry in timeline] == [None] + [f.hash for f in facts[:-1]]
    assert [entry["hash"] for entry in timeline] == [f.hash for f in facts]
    assert [entry["status"] for entry in timeline] == [None, "REVIEWING", None, "DENIED"]
    assert [entry["final"] for entry in timeline] == [None, False, None, True]
    assert [entry["preliminary"] for entry in timeline] == [False, True, False, False]
    assert [entry["lateArrival"] for entry in timeline] == [False] * 4
    assert [entry["supersededBy"] for entry in timeline] == [None, 4, None, None]


def test_the_registration_entry_is_neither_a_result_nor_superseded() -> None:
    [entry, _] = evaluated(registered(), auto(FIRST)).timeline

    assert entry["kind"] == "registered"
    assert (entry["status"], entry["final"], entry["payloadSha256"]) == (None, None, None)
    assert (entry["lateArrival"], entry["supersededBy"]) == (False, None)


def test_the_evaluation_names_the_result_in_force() -> None:
    facts = arrive(manual(FIRST, "DENIED"), preliminary(FIRST))

    evaluation = evaluate(SCAN_REF, facts)

    assert evaluation.in_force == facts[0]
    assert evaluate(SCAN_REF, arrive(registered())).in_force is None
