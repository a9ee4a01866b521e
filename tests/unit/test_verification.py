"""The ``Verification`` aggregate: one event per delivery, one registration, one scanRef."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid5

import pytest
from freezegun import freeze_time

from domain.errors import KindMismatchError, RegistrationConflictError, ScanRefMismatchError
from domain.reports import (
    CompanyNotice,
    Delivery,
    ExpirationNotice,
    Kind,
    MonitoringNotice,
    OtherNotice,
    Outcome,
    Registration,
    Report,
)
from domain.verification import VERIFICATION_NAMESPACE, Verification

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
OTHER_SCAN_REF = "9a41d0c2-5a7d-11ef-9c2a-0242ac120002"
STARTED_AT = datetime(2024, 6, 19, 8, 42, 0, tzinfo=UTC)
RECEIVED_AT = datetime(2024, 6, 19, 8, 42, 22, tzinfo=UTC)
NOW = datetime(2024, 6, 19, 8, 42, 23, tzinfo=UTC)
KEY_ID = "#1:0123456789ab"

RESULT_KINDS = [kind for kind in Kind if kind not in (Kind.DOCUMENT_EXPIRATION, Kind.OTHER)]

EVENT_CLASS_OF_KIND: dict[Kind, type[Verification.Reported]] = {
    Kind.IDENTIFICATION: Verification.IdentificationFinished,
    Kind.AUTO_FINISHED: Verification.AutoReviewFinished,
    Kind.MANUAL_FINISHED: Verification.ManualReviewFinished,
    Kind.CANCELLED: Verification.VerificationCanceled,
    Kind.EXPIRED: Verification.VerificationExpired,
    Kind.RESUBMITTED: Verification.VerificationResubmitted,
    Kind.DOCUMENT_EXPIRATION: Verification.DocumentExpirationNoticed,
    Kind.OTHER: Verification.OtherReported,
    Kind.AML_MONITORING: Verification.MonitoringReported,
    Kind.COMPANY: Verification.CompanyReported,
}


def body(text: str = "") -> bytes:
    return f'{{"scanRef":"{SCAN_REF}","clientId":"user-1"{text}}}'.encode()


def delivery(
    kind: Kind,
    payload: bytes | None = None,
    *,
    header_kind: str | None = None,
    signing_key: str = KEY_ID,
    received_at: datetime = RECEIVED_AT,
) -> Delivery:
    raw = body() if payload is None else payload
    return Delivery(
        kind=kind,
        received_at=received_at,
        payload=raw,
        payload_sha256=hashlib.sha256(raw).hexdigest(),
        signing_key=signing_key,
        header_kind=header_kind,
    )


def report_for(kind: Kind, scan_ref: str = SCAN_REF, client_id: str | None = "user-1") -> Report:
    if kind is Kind.DOCUMENT_EXPIRATION:
        return ExpirationNotice(scan_ref=scan_ref, client_id=client_id)
    if kind is Kind.OTHER:
        return OtherNotice(scan_ref=scan_ref, client_id=client_id)
    if kind is Kind.AML_MONITORING:  # on its own subject, named after ``scan_ref``
        return MonitoringNotice(monitoring_id=scan_ref, client_id=client_id)
    if kind is Kind.COMPANY:
        return CompanyNotice(company_id=scan_ref, client_id=client_id)
    return Outcome(scan_ref=scan_ref, client_id=client_id, final=True, overall="APPROVED")


def registration(client_id: str = "user-1", **changes: int) -> Registration:
    return Registration(scan_ref=SCAN_REF, client_id=client_id, external_ref="onb-1", **changes)


def new_verification() -> Verification:
    return Verification.start(SCAN_REF, STARTED_AT)


def subject_for(kind: Kind) -> Verification:
    """A new aggregate of the subject a ``kind`` report is recorded on."""
    return Verification.start(report_for(kind).scan_ref, STARTED_AT)


def rebuilt(events: Sequence[object]) -> Verification:
    """The aggregate as the repository would rebuild it from its stored history."""
    aggregate: Verification | None = None
    for event in events:
        assert isinstance(event, Verification.Event)
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, Verification)
    return aggregate


def test_the_id_is_uuid5_over_the_scan_ref_in_the_ledgers_namespace() -> None:
    verification_id = Verification.create_id(SCAN_REF)

    assert verification_id == uuid5(VERIFICATION_NAMESPACE, SCAN_REF)
    assert verification_id.version == 5
    assert new_verification().id == verification_id


def test_the_id_of_a_scan_ref_never_changes_between_releases() -> None:
    # Stored histories are found by this id: a new namespace would orphan all of them.
    assert UUID("f55f5f06-e3ca-588e-88db-bfeb1dd7b7d7") == VERIFICATION_NAMESPACE
    assert Verification.create_id(SCAN_REF) == UUID("60ec5907-a908-5ebf-b85d-1f98e2ed0f48")


def test_different_scan_refs_have_different_ids() -> None:
    assert Verification.create_id(SCAN_REF) != Verification.create_id(OTHER_SCAN_REF)
    assert Verification.create_id("abc") != Verification.create_id("ABC")


def test_a_started_verification_has_no_history_yet() -> None:
    verification = new_verification()

    assert verification.version == 0
    assert verification.scan_ref == SCAN_REF
    assert verification.deliveries == {}
    assert verification.registration is None
    assert verification.collect_events() == []


VERIFICATION_KINDS = [kind for kind in Kind if kind not in (Kind.AML_MONITORING, Kind.COMPANY)]


@pytest.mark.parametrize("kind", VERIFICATION_KINDS, ids=str)
def test_the_first_event_is_sequence_one_whatever_its_kind(kind: Kind) -> None:
    verification = new_verification()

    receipt = verification.receive(delivery(kind), report_for(kind))

    assert receipt.sequence == 1
    assert receipt.duplicate is False
    assert receipt.scan_ref == SCAN_REF
    [event] = verification.collect_events()
    assert event.originator_version == 1


def test_a_registration_can_be_the_first_event() -> None:
    verification = new_verification()

    receipt = verification.register(registration())

    assert (receipt.sequence, receipt.duplicate) == (1, False)
    [event] = verification.collect_events()
    assert isinstance(event, Verification.Registered)
    assert event.originator_version == 1


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_each_kind_is_recorded_as_its_own_event_class(kind: Kind) -> None:
    verification = subject_for(kind)

    verification.receive(delivery(kind), report_for(kind))

    [event] = verification.collect_events()
    assert type(event) is EVENT_CLASS_OF_KIND[kind]


def test_every_kind_has_a_distinct_event_class() -> None:
    assert set(EVENT_CLASS_OF_KIND) == set(Kind)
    assert len(set(EVENT_CLASS_OF_KIND.values())) == len(Kind)


def test_every_event_class_declares_its_own_class_version() -> None:
    event_classes = [
        value
        for value in vars(Verification).values()
        if isinstance(value, type) and issubclass(value, Verification.Event)
    ]

    assert len(event_classes) >= len(Kind) + 1  # every kind, and the registration
    for event_class in event_classes:
        assert "class_version" in vars(event_class), event_class.__qualname__
        assert isinstance(event_class.class_version, int)
        assert event_class.class_version >= 1


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_a_repeated_delivery_of_the_same_kind_and_bytes_is_a_duplicate(kind: Kind) -> None:
    verification = subject_for(kind)
    verification.receive(delivery(kind), report_for(kind))

    receipt = verification.receive(delivery(kind), report_for(kind))

    assert (receipt.sequence, receipt.duplicate) == (1, True)
    assert verification.version == 1
    assert len(verification.collect_events()) == 1


def test_a_duplicate_gets_the_sequence_of_the_original_not_the_latest() -> None:
    verification = new_verification()
    first = delivery(Kind.AUTO_FINISHED, body(',"final":false'))
    verification.receive(first, report_for(Kind.AUTO_FINISHED))
    verification.receive(delivery(Kind.MANUAL_FINISHED), report_for(Kind.MANUAL_FINISHED))
    verification.register(registration())

    receipt = verification.receive(first, report_for(Kind.AUTO_FINISHED))

    assert (receipt.sequence, receipt.duplicate) == (1, True)
    assert verification.version == 3


def test_a_redelivery_at_another_time_under_a_rotated_key_is_still_a_duplicate() -> None:
    verification = new_verification()
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))

    receipt = verification.receive(
        delivery(Kind.AUTO_FINISHED, signing_key="#2:ba9876543210", received_at=NOW),
        report_for(Kind.AUTO_FINISHED),
    )

    assert (receipt.sequence, receipt.duplicate) == (1, True)
    assert verification.version == 1


def test_the_same_bytes_under_a_different_kind_are_a_new_event() -> None:
    verification = new_verification()
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))

    receipt = verification.receive(delivery(Kind.IDENTIFICATION), report_for(Kind.IDENTIFICATION))

    assert (receipt.sequence, receipt.duplicate) == (2, False)
    assert [type(event) for event in verification.collect_events()] == [
        Verification.AutoReviewFinished,
        Verification.IdentificationFinished,
    ]


def test_different_bytes_of_the_same_kind_are_a_new_event() -> None:
    verification = new_verification()
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))

    receipt = verification.receive(
        delivery(Kind.AUTO_FINISHED, body(',"fileUrls":{}')), report_for(Kind.AUTO_FINISHED)
    )

    assert (receipt.sequence, receipt.duplicate) == (2, False)


def test_a_registration_before_any_webhook_comes_first_in_the_history() -> None:
    verification = new_verification()

    registered = verification.register(registration())
    reported = verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))

    assert (registered.sequence, reported.sequence) == (1, 2)
    assert verification.registration == registration()
    assert verification.registered_sequence == 1


def test_a_registration_after_webhooks_is_appended_after_them() -> None:
    verification = new_verification()
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))
    verification.receive(delivery(Kind.MANUAL_FINISHED), report_for(Kind.MANUAL_FINISHED))

    receipt = verification.register(registration())

    assert (receipt.sequence, receipt.duplicate) == (3, False)
    assert verification.registered_sequence == 3


def test_an_identical_registration_is_a_duplicate_of_the_first() -> None:
    verification = new_verification()
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))
    verification.register(registration())
    verification.receive(delivery(Kind.MANUAL_FINISHED), report_for(Kind.MANUAL_FINISHED))

    receipt = verification.register(registration())

    assert (receipt.sequence, receipt.duplicate) == (2, True)
    assert verification.version == 3


@pytest.mark.parametrize(
    "different",
    [
        registration(client_id="user-2"),
        registration(max_reattempts=2),
        registration(max_image_recaptures=5),
        registration(expiry_time=3600),
        registration(session_length=600),
        Registration(scan_ref=SCAN_REF, client_id="user-1", external_ref="onb-2"),
    ],
    ids=["client", "reattempts", "recaptures", "expiry", "session", "external-ref"],
)
def test_a_registration_that_differs_from_the_recorded_one_conflicts(
    different: Registration,
) -> None:
    verification = new_verification()
    verification.register(registration())

    with pytest.raises(RegistrationConflictError):
        verification.register(different)

    assert verification.version == 1
    assert verification.registration == registration()


def test_a_registration_for_another_client_than_the_webhooks_name_conflicts() -> None:
    verification = new_verification()
    verification.receive(
        delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED, client_id="user-1")
    )

    with pytest.raises(RegistrationConflictError):
        verification.register(registration(client_id="user-2"))

    assert verification.registration is None
    assert verification.version == 1


def test_a_registration_for_the_client_the_webhooks_name_is_accepted() -> None:
    verification = new_verification()
    verification.receive(
        delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED, client_id="user-1")
    )

    receipt = verification.register(registration(client_id="user-1"))

    assert (receipt.sequence, receipt.duplicate) == (2, False)


def test_a_registration_after_webhooks_without_a_client_is_accepted() -> None:
    verification = new_verification()
    verification.receive(
        delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED, client_id=None)
    )

    receipt = verification.register(registration(client_id="user-9"))

    assert (receipt.sequence, receipt.duplicate) == (2, False)
    assert verification.client_id == "user-9"


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_a_report_about_another_scan_ref_is_refused(kind: Kind) -> None:
    verification = subject_for(kind)

    with pytest.raises(ScanRefMismatchError):
        verification.receive(delivery(kind), report_for(kind, scan_ref=OTHER_SCAN_REF))

    assert verification.version == 0
    assert verification.collect_events() == []


def test_a_registration_of_another_scan_ref_is_refused() -> None:
    verification = new_verification()

    with pytest.raises(ScanRefMismatchError):
        verification.register(Registration(scan_ref=OTHER_SCAN_REF, client_id="user-1"))

    assert verification.version == 0
    assert verification.registration is None


@pytest.mark.parametrize("kind", RESULT_KINDS, ids=str)
def test_an_expiration_notice_under_a_result_kind_is_refused(kind: Kind) -> None:
    verification = new_verification()

    with pytest.raises(KindMismatchError):
        verification.receive(delivery(kind), ExpirationNotice(scan_ref=SCAN_REF))

    assert verification.version == 0
    assert verification.deliveries == {}


def test_a_result_under_the_document_expiration_kind_is_refused() -> None:
    verification = new_verification()

    with pytest.raises(KindMismatchError):
        verification.receive(delivery(Kind.DOCUMENT_EXPIRATION), Outcome(scan_ref=SCAN_REF))

    assert verification.version == 0
    assert verification.deliveries == {}


@freeze_time(NOW)
def test_a_result_event_carries_the_delivery_facts_and_the_decision_fields() -> None:
    verification = new_verification()
    raw = body(',"final":false')
    outcome = Outcome(
        scan_ref=SCAN_REF,
        client_id="user-1",
        external_ref="onb-1",
        final=False,
        overall="SUSPECTED",
        auto_document="DOC_VALIDATED",
        auto_face="FACE_MATCH",
        manual_document="DOC_NOT_CHECKED_YET",
        manual_face="FACE_NOT_CHECKED_YET",
        fraud_tags=("AUTO_UNVERIFIED_FACE",),
        mismatch_tags=("NAME", "SURNAME"),
        finish_time=1718787742,
    )

    verification.receive(
        delivery(Kind.MANUAL_FINISHED, raw, header_kind="IDENTIFICATION_AUTO_FINISHED"), outcome
    )

    [event] = verification.collect_events()
    assert isinstance(event, Verification.ManualReviewFinished)
    assert event.originator_id == Verification.create_id(SCAN_REF)
    assert event.timestamp == NOW
    assert event.scan_ref == SCAN_REF
    assert event.kind == "manual-finished"
    assert event.header_kind == "IDENTIFICATION_AUTO_FINISHED"
    assert event.received_at == RECEIVED_AT
    assert event.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert event.signing_key == KEY_ID
    assert event.payload == raw
    assert event.client_id == "user-1"
    assert event.external_ref == "onb-1"
    assert event.final is False
    assert event.overall == "SUSPECTED"
    assert (event.auto_document, event.auto_face) == ("DOC_VALIDATED", "FACE_MATCH")
    assert (event.manual_document, event.manual_face) == (
        "DOC_NOT_CHECKED_YET",
        "FACE_NOT_CHECKED_YET",
    )
    assert event.fraud_tags == ["AUTO_UNVERIFIED_FACE"]
    assert event.mismatch_tags == ["NAME", "SURNAME"]
    assert event.finish_time == 1718787742


@freeze_time(NOW)
def test_an_expiration_event_carries_the_delivery_facts_and_the_notice() -> None:
    verification = new_verification()
    raw = body(',"expirationThreshold":"30","documentExpiration":"2024-07-19"')
    notice = ExpirationNotice(
        scan_ref=SCAN_REF, client_id="user-1", threshold="30", document_expiration="2024-07-19"
    )

    verification.receive(delivery(Kind.DOCUMENT_EXPIRATION, raw), notice)

    [event] = verification.collect_events()
    assert isinstance(event, Verification.DocumentExpirationNoticed)
    assert event.timestamp == NOW
    assert event.kind == "document-expiration"
    assert event.header_kind is None
    assert event.received_at == RECEIVED_AT
    assert event.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert event.signing_key == KEY_ID
    assert event.payload == raw
    assert event.client_id == "user-1"
    assert (event.threshold, event.document_expiration) == ("30", "2024-07-19")


def test_tags_are_recorded_as_plain_lists() -> None:
    verification = new_verification()

    verification.receive(
        delivery(Kind.AUTO_FINISHED),
        Outcome(scan_ref=SCAN_REF, fraud_tags=("A",), mismatch_tags=()),
    )

    [event] = verification.collect_events()
    assert isinstance(event, Verification.ResultReported)
    assert type(event.fraud_tags) is list
    assert type(event.mismatch_tags) is list


@freeze_time(NOW)
def test_a_registered_event_carries_every_registration_field() -> None:
    verification = new_verification()
    given = Registration(
        scan_ref=SCAN_REF,
        client_id="user-1",
        external_ref="onb-1",
        max_reattempts=2,
        max_image_recaptures=4,
        expiry_time=3600,
        session_length=600,
    )

    verification.register(given)

    [event] = verification.collect_events()
    assert isinstance(event, Verification.Registered)
    assert event.timestamp == NOW
    assert (event.scan_ref, event.client_id, event.external_ref) == (SCAN_REF, "user-1", "onb-1")
    assert (event.max_reattempts, event.max_image_recaptures) == (2, 4)
    assert (event.expiry_time, event.session_length) == (3600, 600)


def test_rebuilding_from_the_collected_events_gives_the_same_state() -> None:
    verification = new_verification()
    verification.receive(
        delivery(Kind.AUTO_FINISHED, body(',"final":false')), report_for(Kind.AUTO_FINISHED)
    )
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))
    verification.register(registration())
    verification.receive(delivery(Kind.MANUAL_FINISHED), report_for(Kind.MANUAL_FINISHED))
    verification.receive(delivery(Kind.DOCUMENT_EXPIRATION), report_for(Kind.DOCUMENT_EXPIRATION))

    copy = rebuilt(verification.collect_events())

    assert copy.id == verification.id
    assert copy.scan_ref == verification.scan_ref
    assert copy.version == verification.version == 5
    assert copy.deliveries == verification.deliveries
    assert len(copy.deliveries) == 4  # the registration is no delivery
    assert copy.registration == verification.registration == registration()
    assert copy.registered_sequence == verification.registered_sequence == 3
    assert copy.client_id == verification.client_id == "user-1"


def test_a_verification_rebuilt_from_a_registration_alone_has_it() -> None:
    verification = new_verification()
    verification.register(registration())

    copy = rebuilt(verification.collect_events())

    assert copy.version == 1
    assert copy.registration == registration()
    assert copy.deliveries == {}


def test_a_rebuilt_verification_still_recognises_earlier_deliveries_as_duplicates() -> None:
    verification = new_verification()
    verification.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))
    verification.register(registration())
    copy = rebuilt(verification.collect_events())

    repeated = copy.receive(delivery(Kind.AUTO_FINISHED), report_for(Kind.AUTO_FINISHED))
    registered_again = copy.register(registration())
    new = copy.receive(delivery(Kind.IDENTIFICATION), report_for(Kind.IDENTIFICATION))

    assert (repeated.sequence, repeated.duplicate) == (1, True)
    assert (registered_again.sequence, registered_again.duplicate) == (2, True)
    assert (new.sequence, new.duplicate) == (3, False)


MONITORING = MonitoringNotice(monitoring_id="m-1", alert_status="ALERT", scan_refs=(SCAN_REF,))
COMPANY = CompanyNotice(company_id="c-1", subject_status="REQUESTED")


def test_a_monitoring_is_recorded_on_its_own_subject_once() -> None:
    monitoring = Verification.start("aml:m-1", STARTED_AT)

    first = monitoring.receive(delivery(Kind.AML_MONITORING), MONITORING)
    again = monitoring.receive(delivery(Kind.AML_MONITORING), MONITORING)

    assert (first.scan_ref, first.sequence, first.duplicate) == ("aml:m-1", 1, False)
    assert (again.sequence, again.duplicate) == (1, True)
    [event] = monitoring.collect_events()
    assert isinstance(event, Verification.MonitoringReported)
    assert (event.monitoring_id, event.alert_status, event.scan_refs) == (
        "m-1",
        "ALERT",
        [SCAN_REF],
    )


def test_the_same_company_body_under_another_type_is_another_delivery() -> None:
    company = Verification.start("company:c-1", STARTED_AT)

    submit = company.receive(delivery(Kind.COMPANY, header_kind="COMPANY_SUBMIT"), COMPANY)
    review = company.receive(delivery(Kind.COMPANY, header_kind="COMPANY_REVIEW"), COMPANY)
    again = company.receive(delivery(Kind.COMPANY, header_kind="COMPANY_REVIEW"), COMPANY)

    assert [submit.sequence, review.sequence, again.sequence] == [1, 2, 2]
    assert again.duplicate is True
    events = company.collect_events()
    assert [e.header_kind for e in events] == ["COMPANY_SUBMIT", "COMPANY_REVIEW"]  # type: ignore[attr-defined]


def test_a_subjects_notice_is_refused_by_a_verification_and_under_another_kind() -> None:
    with pytest.raises(ScanRefMismatchError):
        new_verification().receive(delivery(Kind.AML_MONITORING), MONITORING)
    with pytest.raises(KindMismatchError):
        Verification.start("aml:m-1", STARTED_AT).receive(delivery(Kind.COMPANY), MONITORING)
    with pytest.raises(KindMismatchError):
        Verification.start("company:c-1", STARTED_AT).receive(delivery(Kind.OTHER), COMPANY)
