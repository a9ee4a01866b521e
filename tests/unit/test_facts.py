"""Facts: what the status rules keep of each recorded event, and nothing more."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time

from domain.reports import (
    CompanyNotice,
    Delivery,
    ExpirationNotice,
    Kind,
    MonitoringNotice,
    OtherNotice,
    Outcome,
    Registration,
    StatusCheckReport,
)
from domain.verification import Verification
from projections.facts import Fact, fact_of

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
STARTED_AT = datetime(2024, 6, 19, 8, 42, 0, tzinfo=UTC)
RECEIVED_AT = datetime(2024, 6, 19, 8, 42, 22, 125000, tzinfo=UTC)
REGISTERED_AT = "2024-06-19T08:41:00.000000Z"
POSITION = 4711
PERSONAL_DATA = "JOHN SMITH 1990-01-01 AB1234567"
PAYLOAD = f'{{"scanRef":"{SCAN_REF}","data":{{"fullName":"{PERSONAL_DATA}"}}}}'.encode()
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()

OUTCOME = Outcome(
    scan_ref=SCAN_REF,
    client_id="user-1",
    external_ref="onb-1",
    final=False,
    overall="SUSPECTED",
    auto_document="DOC_VALIDATED",
    auto_face="FACE_MATCH",
    manual_document="DOC_NOT_CHECKED",
    manual_face="FACE_NOT_CHECKED",
    fraud_tags=("AUTO_SUSPICIOUS", "NEW_FRAUD_TAG"),
    mismatch_tags=("NAME",),
    finish_time=1718786542,
)
NOTICE = ExpirationNotice(
    scan_ref=SCAN_REF, client_id="user-1", threshold="30", document_expiration="2025-01-31"
)
REGISTRATION = Registration(
    scan_ref=SCAN_REF,
    client_id="user-1",
    external_ref="onb-1",
    max_reattempts=2,
    max_image_recaptures=5,
    expiry_time=3600,
    session_length=600,
)

RESULT_CLASSES = {
    Kind.IDENTIFICATION: Verification.IdentificationFinished,
    Kind.AUTO_FINISHED: Verification.AutoReviewFinished,
    Kind.MANUAL_FINISHED: Verification.ManualReviewFinished,
    Kind.CANCELLED: Verification.VerificationCanceled,
    Kind.EXPIRED: Verification.VerificationExpired,
    Kind.RESUBMITTED: Verification.VerificationResubmitted,
}


def delivery(kind: Kind, payload: bytes = PAYLOAD) -> Delivery:
    return Delivery(
        kind=kind,
        received_at=RECEIVED_AT,
        payload=payload,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        signing_key="#1:0123456789ab",
    )


def recorded_events() -> list[Verification.Event]:
    """One event of every class, in the order a verification might record them."""
    verification = Verification.start(SCAN_REF, STARTED_AT)
    with freeze_time(REGISTERED_AT):
        verification.register(REGISTRATION)
    for kind in RESULT_CLASSES:
        verification.receive(delivery(kind), OUTCOME)
    verification.receive(delivery(Kind.DOCUMENT_EXPIRATION), NOTICE)
    verification.receive(delivery(Kind.OTHER), OtherNotice(SCAN_REF, "user-1"))
    verification.check_status(CHECK)
    verification.record_erasure("user-1", "retention ended", "admin", ["k1"])
    events = [e for e in verification.collect_events() if isinstance(e, Verification.Event)]
    assert len(events) == len(RESULT_CLASSES) + 5
    return events


MONITORING = MonitoringNotice(
    monitoring_id="m-1",
    client_id="user-1",
    subject_status="ACTIVE",
    alert_status="ALERT",
    peps_status="NOT_CHECKED",
    sanctions_status="SUSPECTED",
    adverse_media_status="NOT_CHECKED",
    scan_refs=(SCAN_REF, "scan-2"),
)
COMPANY = CompanyNotice(company_id="c-1", client_id="client-9", subject_status="REQUESTED")


CHECK_ANSWER = b'{"status":"APPROVED","manualFace":"FACE_MATCH","scanRef":"' + SCAN_REF.encode()
CHECK = StatusCheckReport(
    scan_ref=SCAN_REF,
    asked_at=RECEIVED_AT,
    http_status=200,
    payload=CHECK_ANSWER + b'"}',
    payload_sha256=hashlib.sha256(CHECK_ANSWER + b'"}').hexdigest(),
    overall="APPROVED",
    manual_face="FACE_MATCH",
)


def test_a_status_check_is_a_fact_that_decides_when_its_answer_does() -> None:
    [event] = [e for e in recorded_events() if isinstance(e, Verification.StatusChecked)]

    fact = fact_of(event, POSITION)

    assert (fact.kind, fact.overall, fact.manual_face, fact.cause) == (
        "status-checked",
        "APPROVED",
        "FACE_MATCH",
        None,
    )
    assert fact.payload_sha256 == CHECK.payload_sha256
    assert fact.is_result is True
    assert fact._replace(overall="REVIEWING").is_result is False
    assert fact._replace(cause="unknown-status").is_result is False


def subject_events() -> list[Verification.Event]:
    """An AML monitoring's event and a company's, each on its own subject."""
    monitoring = Verification.start(MONITORING.scan_ref, STARTED_AT)
    monitoring.receive(delivery(Kind.AML_MONITORING), MONITORING)
    company = Verification.start(COMPANY.scan_ref, STARTED_AT)
    typed = Delivery(**{**vars(delivery(Kind.COMPANY)), "header_kind": "COMPANY_INFO_REQUEST"})
    company.receive(typed, COMPANY)
    policy = Verification.start("policy:in-force", STARTED_AT)
    policy.apply_policy("house", "0" * 64, 'name = "house"')
    return [*monitoring.collect_events(), *company.collect_events(), *policy.collect_events()]  # type: ignore[list-item]


def event_of(event_class: type[Verification.Event]) -> Verification.Event:
    [event] = [e for e in recorded_events() if type(e) is event_class]
    return event


def leaf_event_classes(cls: type[Verification.Event]) -> set[type[Verification.Event]]:
    subclasses = cls.__subclasses__()
    if not subclasses:
        return {cls}
    return set().union(*(leaf_event_classes(sub) for sub in subclasses))


def test_a_registration_carries_its_identifiers_and_limits() -> None:
    event = event_of(Verification.Registered)

    fact = fact_of(event, POSITION)

    assert fact == Fact(
        sequence=1,
        position=POSITION,
        kind="registered",
        received_at=REGISTERED_AT,
        client_id="user-1",
        external_ref="onb-1",
        max_reattempts=2,
        max_image_recaptures=5,
        prev_hash=None,
        hash=event.hash,
        expiry_time=REGISTRATION.expiry_time,
        session_length=REGISTRATION.session_length,
    )
    assert fact.is_result is False


@pytest.mark.parametrize("kind", list(RESULT_CLASSES), ids=str)
def test_a_result_carries_its_delivery_facts_and_decision_fields(kind: Kind) -> None:
    event = event_of(RESULT_CLASSES[kind])

    fact = fact_of(event, POSITION)

    assert fact == Fact(
        sequence=event.originator_version,
        position=POSITION,
        kind=kind.value,
        received_at="2024-06-19T08:42:22.125000Z",
        client_id="user-1",
        external_ref="onb-1",
        payload_sha256=PAYLOAD_SHA256,
        final=False,
        overall="SUSPECTED",
        auto_document="DOC_VALIDATED",
        auto_face="FACE_MATCH",
        manual_document="DOC_NOT_CHECKED",
        manual_face="FACE_NOT_CHECKED",
        fraud_tags=("AUTO_SUSPICIOUS", "NEW_FRAUD_TAG"),
        mismatch_tags=("NAME",),
        finish_time=1718786542,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )
    assert fact.is_result is True


def test_a_document_expiration_notice_carries_its_threshold_and_date() -> None:
    event = event_of(Verification.DocumentExpirationNoticed)

    fact = fact_of(event, POSITION)

    assert fact == Fact(
        sequence=8,
        position=POSITION,
        kind="document-expiration",
        received_at="2024-06-19T08:42:22.125000Z",
        client_id="user-1",
        payload_sha256=PAYLOAD_SHA256,
        threshold="30",
        document_expiration="2025-01-31",
        prev_hash=event.prev_hash,
        hash=event.hash,
    )
    assert fact.is_result is False


def test_a_result_without_the_optional_fields_keeps_them_empty() -> None:
    verification = Verification.start(SCAN_REF, STARTED_AT)
    verification.receive(delivery(Kind.IDENTIFICATION), Outcome(scan_ref=SCAN_REF))
    [event] = verification.collect_events()
    assert isinstance(event, Verification.IdentificationFinished)

    fact = fact_of(event, 1)

    assert (fact.final, fact.overall, fact.finish_time) == (None, None, None)
    assert (fact.client_id, fact.external_ref) == (None, None)
    assert (fact.fraud_tags, fact.mismatch_tags) == ((), ())


def test_facts_follow_the_history_in_sequence_and_its_hash_chain() -> None:
    events = recorded_events()

    facts = [fact_of(event, POSITION + n) for n, event in enumerate(events)]

    assert [f.sequence for f in facts] == list(range(1, len(events) + 1))
    assert [f.position for f in facts] == [POSITION + n for n in range(len(events))]
    assert [f.prev_hash for f in facts] == [None] + [f.hash for f in facts[:-1]]
    assert all(f.hash for f in facts)


def test_every_recorded_event_class_has_a_fact() -> None:
    events = [*recorded_events(), *subject_events()]

    assert {type(event) for event in events} == leaf_event_classes(Verification.Event)
    assert len({fact_of(event, POSITION).kind for event in events}) == len(events)


def test_a_monitorings_and_a_companys_facts_carry_their_state_and_are_no_results() -> None:
    monitoring, company, _ = (fact_of(event, POSITION) for event in subject_events())

    assert (monitoring.kind, monitoring.sequence, monitoring.client_id) == (
        "aml-monitoring",
        1,
        "user-1",
    )
    assert (monitoring.subject_status, monitoring.alert_status) == ("ACTIVE", "ALERT")
    assert (monitoring.peps_status, monitoring.sanctions_status) == ("NOT_CHECKED", "SUSPECTED")
    assert monitoring.adverse_media_status == "NOT_CHECKED"
    assert monitoring.scan_refs == (SCAN_REF, "scan-2")
    assert (company.kind, company.header_kind, company.subject_status) == (
        "company",
        "COMPANY_INFO_REQUEST",
        "REQUESTED",
    )
    assert not monitoring.is_result
    assert not company.is_result


def test_an_event_the_rules_do_not_model_is_refused() -> None:
    recorded: dict[str, Any] = {
        "originator_id": Verification.create_id(SCAN_REF),
        "originator_version": 1,
        "timestamp": RECEIVED_AT,
        "scan_ref": SCAN_REF,
        "prev_hash": None,
        "hash": "00" * 32,
        "kind": "identification",
        "header_kind": None,
        "received_at": RECEIVED_AT,
        "payload_sha256": PAYLOAD_SHA256,
        "signing_key": "#1:0123456789ab",
        "payload": PAYLOAD,
        "client_id": None,
    }
    reported = Verification.Reported(**recorded)

    with pytest.raises(TypeError, match="Reported"):
        fact_of(reported, POSITION)


ALL_CLASSES = [
    Verification.Registered,
    *RESULT_CLASSES.values(),
    Verification.DocumentExpirationNoticed,
]


@pytest.mark.parametrize("event_class", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_a_fact_carries_no_payload_bytes(event_class: type[Verification.Event]) -> None:
    event = event_of(event_class)

    fact = fact_of(event, POSITION)

    assert not any(isinstance(value, bytes) for value in fact)
    assert "payload" not in Fact._fields
    assert PERSONAL_DATA not in repr(fact)


def test_a_delivery_of_a_type_the_ledger_does_not_model_is_a_fact_but_never_a_result() -> None:
    event = event_of(Verification.OtherReported)

    fact = fact_of(event, POSITION)

    assert (fact.kind, fact.client_id, fact.is_result) == ("other", "user-1", False)
    assert fact.payload_sha256 == hashlib.sha256(PAYLOAD).hexdigest()
