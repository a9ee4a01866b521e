"""iDenfy's payloads and event-type names, decoded into the ledger's vocabulary."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.idenfy import (
    HEADER_KINDS,
    PATH_KINDS,
    UnusablePayloadError,
    decode_report,
    header_kind,
)
from domain.reports import (
    CompanyNotice,
    ExpirationNotice,
    Kind,
    MonitoringNotice,
    OtherNotice,
    Outcome,
    Report,
)
from tests.support.histories import PROPERTY
from tests.support.idenfy import encode, result_body

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
NOT_RESULTS = (Kind.DOCUMENT_EXPIRATION, Kind.OTHER, Kind.AML_MONITORING, Kind.COMPANY)
RESULT_KINDS = [kind for kind in Kind if kind not in NOT_RESULTS]
MODELLED = [kind for kind in Kind if kind is not Kind.OTHER]


def decode_outcome(raw: bytes, kind: Kind = Kind.AUTO_FINISHED) -> Outcome:
    report = decode_report(kind, raw)
    assert isinstance(report, Outcome)
    return report


def with_status(**status: Any) -> bytes:
    return encode(result_body(SCAN_REF) | {"status": status})


@pytest.mark.parametrize("kind", RESULT_KINDS, ids=str)
def test_a_result_body_decodes_into_its_decision_fields_for_every_result_kind(
    kind: Kind,
) -> None:
    raw = encode(
        result_body(SCAN_REF, final=False, overall="SUSPECTED", client_id="user-1")
        | {
            "status": {
                "overall": "SUSPECTED",
                "autoDocument": "DOC_VALIDATED",
                "autoFace": "FACE_MATCH",
                "manualDocument": "DOC_NOT_CHECKED_YET",
                "manualFace": "FACE_NOT_CHECKED_YET",
                "fraudTags": ["AUTO_UNVERIFIED_FACE"],
                "mismatchTags": ["NAME", "SURNAME"],
            }
        }
    )

    assert decode_report(kind, raw) == Outcome(
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


def test_a_document_expiration_body_decodes_into_a_notice() -> None:
    raw = encode(
        {
            "scanRef": SCAN_REF,
            "clientId": "user-1",
            "expirationThreshold": "30",
            "documentExpiration": "2024-07-19",
        }
    )

    assert decode_report(Kind.DOCUMENT_EXPIRATION, raw) == ExpirationNotice(
        scan_ref=SCAN_REF, client_id="user-1", threshold="30", document_expiration="2024-07-19"
    )


def test_a_document_expiration_body_with_only_a_scan_ref_is_a_notice_with_no_details() -> None:
    assert decode_report(Kind.DOCUMENT_EXPIRATION, encode({"scanRef": SCAN_REF})) == (
        ExpirationNotice(scan_ref=SCAN_REF)
    )


def test_unknown_enum_values_and_tags_pass_through_verbatim() -> None:
    raw = with_status(
        overall="SOMETHING_IDENFY_ADDS_IN_2030",
        autoDocument="DOC_HOLOGRAM_CHECKED",
        autoFace="FACE_3D_LIVENESS",
        manualDocument="doc_lowercase",
        manualFace="FACE_??",
        fraudTags=["NEW_FRAUD_TAG", "AUTO_UNVERIFIED_FACE"],
        mismatchTags=["NEW_MISMATCH"],
    )

    outcome = decode_outcome(raw)

    assert outcome.overall == "SOMETHING_IDENFY_ADDS_IN_2030"
    assert (outcome.auto_document, outcome.auto_face) == (
        "DOC_HOLOGRAM_CHECKED",
        "FACE_3D_LIVENESS",
    )
    assert (outcome.manual_document, outcome.manual_face) == ("doc_lowercase", "FACE_??")
    assert outcome.fraud_tags == ("NEW_FRAUD_TAG", "AUTO_UNVERIFIED_FACE")
    assert outcome.mismatch_tags == ("NEW_MISMATCH",)


def test_unknown_fields_are_ignored() -> None:
    raw = encode(
        result_body(SCAN_REF, videoCallData={"url": "https://v.example"}, riskScore=0.3)
        | {"status": {"overall": "APPROVED", "additionalSteps": {"x": [1, 2]}, "newFlag": True}}
    )

    outcome = decode_outcome(raw)

    assert outcome.scan_ref == SCAN_REF
    assert outcome.overall == "APPROVED"


def test_a_legacy_body_without_final_decodes_with_final_unknown() -> None:
    raw = encode(result_body(SCAN_REF, final=None))
    assert "final" not in json.loads(raw)

    outcome = decode_outcome(raw, Kind.IDENTIFICATION)

    assert outcome.final is None
    assert outcome.overall == "APPROVED"


def test_a_null_status_decodes_with_no_result_and_no_tags() -> None:
    outcome = decode_outcome(encode(result_body(SCAN_REF) | {"status": None}))

    assert outcome.overall is None
    assert (outcome.auto_document, outcome.manual_face) == (None, None)
    assert (outcome.fraud_tags, outcome.mismatch_tags) == ((), ())


def test_null_tag_lists_decode_as_no_tags() -> None:
    outcome = decode_outcome(with_status(overall="DENIED", fraudTags=None, mismatchTags=None))

    assert (outcome.fraud_tags, outcome.mismatch_tags) == ((), ())


def test_a_body_with_only_a_scan_ref_is_usable() -> None:
    assert decode_outcome(encode({"scanRef": SCAN_REF})) == Outcome(scan_ref=SCAN_REF)


@pytest.mark.parametrize("finish_time", [0, 2**53], ids=["zero", "two-to-the-53"])
def test_finish_times_at_the_bounds_are_usable(finish_time: int) -> None:
    outcome = decode_outcome(encode({"scanRef": SCAN_REF, "finishTime": finish_time}))

    assert outcome.finish_time == finish_time


def test_a_scan_ref_of_a_hundred_characters_is_usable() -> None:
    scan_ref = "a" * 100

    assert decode_outcome(encode({"scanRef": scan_ref})).scan_ref == scan_ref


UNUSABLE_ANY_KIND = {
    "not-json": b"scanRef=abc&final=true",
    "truncated-json": b'{"scanRef":"abc"',
    "empty-body": b"",
    "trailing-garbage": b'{"scanRef":"abc"} x',
    "invalid-utf8-outside-strings": b"\xff\xfe{}",
    "json-array": b'[{"scanRef":"abc"}]',
    "json-string": b'"abc"',
    "json-number": b"42",
    "json-null": b"null",
    "json-true": b"true",
    "missing-scan-ref": b'{"clientId":"user-1"}',
    "null-scan-ref": b'{"scanRef":null}',
    "numeric-scan-ref": b'{"scanRef":123}',
    "empty-scan-ref": b'{"scanRef":""}',
    "scan-ref-with-a-slash": b'{"scanRef":"abc/def"}',
    "scan-ref-with-a-space": b'{"scanRef":"abc def"}',
    "scan-ref-with-a-leading-space": b'{"scanRef":" abc"}',
    "scan-ref-of-101-characters": json.dumps({"scanRef": "a" * 101}).encode(),
}


@pytest.mark.parametrize("kind", [Kind.AUTO_FINISHED, Kind.DOCUMENT_EXPIRATION], ids=str)
@pytest.mark.parametrize("raw", UNUSABLE_ANY_KIND.values(), ids=UNUSABLE_ANY_KIND.keys())
def test_a_body_that_is_not_an_object_with_a_usable_scan_ref_is_unusable(
    kind: Kind, raw: bytes
) -> None:
    with pytest.raises(UnusablePayloadError) as error:
        decode_report(kind, raw)

    assert str(error.value)


INVALID_UTF8_IN_STRINGS = {
    "in-the-scan-ref": b'{"scanRef":"ab\xffc"}',
    "in-the-client-id": b'{"scanRef":"abc","clientId":"J\xc3"}',
    "an-encoded-surrogate": b'{"scanRef":"abc","clientId":"\xed\xa0\x80"}',
}


@pytest.mark.parametrize("kind", [Kind.AUTO_FINISHED, Kind.DOCUMENT_EXPIRATION], ids=str)
@pytest.mark.parametrize(
    "raw", INVALID_UTF8_IN_STRINGS.values(), ids=INVALID_UTF8_IN_STRINGS.keys()
)
def test_invalid_utf8_in_a_decoded_string_makes_the_body_unusable(kind: Kind, raw: bytes) -> None:
    with pytest.raises(UnusablePayloadError):
        decode_report(kind, raw)


def test_invalid_utf8_in_an_ignored_field_leaves_the_body_usable() -> None:
    raw = b'{"scanRef":"abc","data":{"docFirstName":"J\xc3"}}'

    assert decode_outcome(raw).scan_ref == "abc"


@pytest.mark.parametrize("kind", [Kind.AUTO_FINISHED, Kind.DOCUMENT_EXPIRATION], ids=str)
def test_a_scan_ref_with_a_trailing_newline_is_unusable(kind: Kind) -> None:
    with pytest.raises(UnusablePayloadError):
        decode_report(kind, b'{"scanRef":"abc\\n"}')


WRONG_TYPES = {
    "final-as-string": b'{"scanRef":"abc","final":"true"}',
    "final-as-number": b'{"scanRef":"abc","final":1}',
    "status-as-list": b'{"scanRef":"abc","status":["APPROVED"]}',
    "status-as-string": b'{"scanRef":"abc","status":"APPROVED"}',
    "overall-as-number": b'{"scanRef":"abc","status":{"overall":1}}',
    "fraud-tags-as-string": b'{"scanRef":"abc","status":{"fraudTags":"AUTO_UNVERIFIED_FACE"}}',
    "mismatch-tag-null": b'{"scanRef":"abc","status":{"mismatchTags":[null]}}',
    "client-id-as-number": b'{"scanRef":"abc","clientId":7}',
    "finish-time-as-string": b'{"scanRef":"abc","finishTime":"1718787742"}',
    "finish-time-negative": b'{"scanRef":"abc","finishTime":-1}',
    "finish-time-over-2-to-the-53": f'{{"scanRef":"abc","finishTime":{2**53 + 1}}}'.encode(),
}


@pytest.mark.parametrize("raw", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_result_field_of_the_wrong_type_makes_the_body_unusable(raw: bytes) -> None:
    with pytest.raises(UnusablePayloadError) as error:
        decode_report(Kind.AUTO_FINISHED, raw)

    assert "$." in str(error.value)  # the cause says where


def test_an_expiration_field_of_the_wrong_type_makes_the_body_unusable() -> None:
    with pytest.raises(UnusablePayloadError, match=r"documentExpiration"):
        decode_report(Kind.DOCUMENT_EXPIRATION, b'{"scanRef":"abc","documentExpiration":20240719}')


def test_duplicate_json_keys_decode_with_the_last_one_winning() -> None:
    raw = (
        b'{"scanRef":"first","final":true,"final":false,'
        b'"status":{"overall":"APPROVED","overall":"DENIED"},"scanRef":"second"}'
    )

    outcome = decode_outcome(raw)

    assert (outcome.scan_ref, outcome.final, outcome.overall) == ("second", False, "DENIED")


@pytest.mark.parametrize(
    ("opener", "closer"), [(b"[", b"]"), (b'{"a":', b"}")], ids=["list", "dict"]
)
def test_deep_nesting_in_an_ignored_field_does_not_crash_the_decoder(
    opener: bytes, closer: bytes
) -> None:
    depth = 10_000  # about 20-50 KiB, well under the 1 MiB body limit
    raw = b'{"scanRef":"abc","data":' + opener * depth + b"0" + closer * depth + b"}"

    result: Report | UnusablePayloadError
    try:
        result = decode_report(Kind.AUTO_FINISHED, raw)
    except UnusablePayloadError as error:
        result = error

    assert isinstance(result, Outcome | UnusablePayloadError)


def test_every_kind_the_ledger_models_has_a_header_value() -> None:
    assert set(HEADER_KINDS.values()) == set(MODELLED) - {Kind.COMPANY}  # COMPANY_* types


def test_header_values_map_to_kinds_as_the_contract_says() -> None:
    assert HEADER_KINDS == {
        "IDENTIFICATION": Kind.IDENTIFICATION,
        "IDENTIFICATION_AUTO_FINISHED": Kind.AUTO_FINISHED,
        "IDENTIFICATION_MANUAL_FINISHED": Kind.MANUAL_FINISHED,
        "IDENTIFICATION_CANCELLED": Kind.CANCELLED,
        "IDENTIFICATION_CANCELED": Kind.CANCELLED,
        "IDENTIFICATION_EXPIRED": Kind.EXPIRED,
        "IDENTIFICATION_RESUBMITTED": Kind.RESUBMITTED,
        "DOCUMENT_EXPIRATION": Kind.DOCUMENT_EXPIRATION,
        "AML_MONITORING": Kind.AML_MONITORING,
    }


def test_every_kind_the_ledger_models_has_a_receiver_path_but_other_and_company() -> None:
    assert set(PATH_KINDS.values()) == set(MODELLED) - {Kind.COMPANY}
    for kind in MODELLED:
        if kind is not Kind.COMPANY:
            assert PATH_KINDS[kind.value] is kind
    assert Kind.OTHER.value not in PATH_KINDS
    assert Kind.COMPANY.value not in PATH_KINDS


@pytest.mark.parametrize(
    "written",
    [
        "COMPANY_SUBMIT",
        "COMPANY_REVIEW",
        "COMPANY_AML_REVIEW",
        "COMPANY_EXPIRATION",
        "COMPANY_TOKEN_EXPIRED",
        "COMPANY INFO REQUEST",
        "company-delete",
    ],
)
def test_every_company_webhook_type_is_a_company_delivery(written: str) -> None:
    assert header_kind(written) is Kind.COMPANY


def test_an_aml_monitoring_body_is_read_for_its_state_and_the_verifications_it_names() -> None:
    body = encode(
        {
            "monitoringId": "m-1",
            "name": "Jane",
            "isActive": True,
            "scanRefList": ["scan-1", "scan-2", "scan-1"],
            "alertStatus": "ALERT",
            "status": "ACTIVE",
            "pepsStatus": "NOT_CHECKED",
            "sanctionsStatus": "SUSPECTED",
            "adverseMediaStatus": "NOT_SUSPECTED",
            "results": [{"serviceName": "AML_NAMES_CHECK", "data": [{"score": 98.5}]}],
        }
    )

    notice = decode_report(Kind.AML_MONITORING, body)

    assert notice == MonitoringNotice(
        monitoring_id="m-1",
        subject_status="ACTIVE",
        alert_status="ALERT",
        peps_status="NOT_CHECKED",
        sanctions_status="SUSPECTED",
        adverse_media_status="NOT_SUSPECTED",
        scan_refs=("scan-1", "scan-2"),
    )
    assert notice.scan_ref == "aml:m-1"


@pytest.mark.parametrize(
    "body",
    [{}, {"monitoringId": ""}, {"monitoringId": "a:b"}, {"monitoringId": 7}],
    ids=["no id", "empty id", "colon", "number"],
)
def test_an_aml_monitoring_body_without_a_usable_id_is_unusable(body: dict[str, Any]) -> None:
    with pytest.raises(UnusablePayloadError):
        decode_report(Kind.AML_MONITORING, encode(body))


@pytest.mark.parametrize(
    ("body", "company_id", "status"),
    [
        ({"companyId": "c-1", "token": "t", "status": "REQUESTED"}, "c-1", "REQUESTED"),
        ({"id": "c-2", "clientId": "client-2", "soleProprietor": True}, "c-2", None),
        ({"expirationStatus": "EXPIRED"}, "_unidentified", "EXPIRED"),
        ({"clientId": "client-3", "submissionTime": "2023-11-07T05:31:56Z"}, "_unidentified", None),
    ],
    ids=["info request", "submit with id", "expiration", "submit with client only"],
)
def test_a_company_body_is_read_for_its_company_and_status(
    body: dict[str, Any], company_id: str, status: str | None
) -> None:
    notice = decode_report(Kind.COMPANY, encode(body))

    assert isinstance(notice, CompanyNotice)
    assert (notice.company_id, notice.subject_status) == (company_id, status)
    assert notice.scan_ref == f"company:{company_id}"


@pytest.mark.parametrize("scan_ref", ["aml:m-1", "company:c-1"])
def test_a_result_cannot_name_another_kind_of_subject(scan_ref: str) -> None:
    with pytest.raises(UnusablePayloadError):
        decode_report(Kind.AUTO_FINISHED, encode(result_body(scan_ref)))


def test_a_body_of_a_type_the_ledger_does_not_model_is_read_for_whom_it_is_about() -> None:
    notice = decode_report(Kind.OTHER, encode({"scanRef": "scan-1", "clientId": "c-1", "x": 1}))

    assert notice == OtherNotice(scan_ref="scan-1", client_id="c-1")
    with pytest.raises(UnusablePayloadError):
        decode_report(Kind.OTHER, encode({"monitoringId": "m-1"}))


def test_both_spellings_of_cancelled_are_receiver_paths() -> None:
    assert PATH_KINDS["cancelled"] is Kind.CANCELLED
    assert PATH_KINDS["canceled"] is Kind.CANCELLED
    assert set(PATH_KINDS) == {
        "identification",
        "auto-finished",
        "manual-finished",
        "cancelled",
        "canceled",
        "expired",
        "resubmitted",
        "document-expiration",
        "aml-monitoring",
    }


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("ID VERIFICATION AUTO FINISH", Kind.AUTO_FINISHED),
        ("ID VERIFICATION MANUAL FINISH", Kind.MANUAL_FINISHED),
        ("ID_VERIFICATION_AUTO_FINISHED", Kind.AUTO_FINISHED),
        ("identification-manual-finished", Kind.MANUAL_FINISHED),
        ("  Identification   Cancelled ", Kind.CANCELLED),
        ("ID VERIFICATION", Kind.IDENTIFICATION),
        ("id-verification-expired", Kind.EXPIRED),
        ("Document Expiration", Kind.DOCUMENT_EXPIRATION),
        ("IDENTIFICATION_RESUBMITTED", Kind.RESUBMITTED),
    ],
)
def test_header_names_are_read_as_idenfy_writes_them_anywhere(written: str, kind: Kind) -> None:
    assert header_kind(written) is kind


@pytest.mark.parametrize(
    "written",
    ["VIDEO_CALL_FINISHED", "FACE_AUTHENTICATION", "ID VERIFICATION SOMETHING", "", "FINISH"],
)
def test_names_of_events_the_ledger_does_not_model_name_no_kind(written: str) -> None:
    assert header_kind(written) is None


@pytest.mark.parametrize("date", ["soon", "31/01/2025", "2025-02-30", "2025-1-31", "20250131"])
def test_a_document_expiration_that_is_not_an_iso_date_is_unusable(date: str) -> None:
    body = encode({"scanRef": "scan-1", "documentExpiration": date, "expirationThreshold": "30"})

    with pytest.raises(UnusablePayloadError, match="documentExpiration"):
        decode_report(Kind.DOCUMENT_EXPIRATION, body)


def test_a_document_expiration_with_an_iso_date_is_read() -> None:
    body = encode({"scanRef": "scan-1", "documentExpiration": "2025-01-31"})

    notice = decode_report(Kind.DOCUMENT_EXPIRATION, body)

    assert isinstance(notice, ExpirationNotice)
    assert notice.document_expiration == "2025-01-31"


EPOCHS = st.one_of(
    st.integers(min_value=0, max_value=2**31),
    st.decimals(min_value=0, max_value=2**31, places=6, allow_nan=False, allow_infinity=False),
)


@PROPERTY
@given(EPOCHS, EPOCHS)
def test_epoch_seconds_whole_or_decimal_are_read_in_their_order_and_print_back(
    first: int | Decimal, second: int | Decimal
) -> None:
    """iDenfy's 2019 examples send ``finishTime: 1554727002.254685``: read to the
    microsecond, two times keep their order and equality, and print back as sent."""
    read = []
    for value in (first, second):
        body = f'{{"scanRef": "scan-1", "finishTime": {value}}}'.encode()
        outcome = decode_report(Kind.AUTO_FINISHED, body)
        assert isinstance(outcome, Outcome)
        assert outcome.finish_time is not None
        assert Decimal(repr(outcome.finish_time)) == Decimal(value)
        read.append(outcome.finish_time)

    assert (read[0] < read[1]) == (Decimal(first) < Decimal(second))
    assert (read[0] == read[1]) == (Decimal(first) == Decimal(second))
