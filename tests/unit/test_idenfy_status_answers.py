"""What an answer of iDenfy's status API is taken to say, and the client's settings."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.idenfy_api import IdenfyApiSettings, retry_after_seconds
from adapters.idenfy_status import Cause, read_answer

REF = "328c6766-934e-11ed-bb9b-025ad99a18e7"
AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def answer(**fields: Any) -> bytes:
    document: dict[str, Any] = {
        "fraudTags": [],
        "mismatchTags": [],
        "autoDocument": "DOC_VALIDATED",
        "autoFace": "FACE_MATCH",
        "manualDocument": None,
        "manualFace": None,
        "scanRef": REF,
        "clientId": "user-1",
        "status": "APPROVED",
    }
    return json.dumps({**document, **fields}).encode()


def test_a_usable_answer_carries_the_status_verdicts_and_tags() -> None:
    body = answer(status="SUSPECTED", mismatchTags=["NAME"], fraudTags=["NEW_TAG_OF_2027"])

    check = read_answer(REF, 200, body, AT)

    assert check.usable
    assert check.answer is not None
    assert check.answer.status == "SUSPECTED"
    assert check.answer.mismatch_tags == ("NAME",)
    assert check.answer.fraud_tags == ("NEW_TAG_OF_2027",)
    assert (check.answer.auto_document, check.answer.auto_face) == ("DOC_VALIDATED", "FACE_MATCH")
    assert check.sha256 == hashlib.sha256(body).hexdigest()
    assert (check.body, check.asked_at, check.cause, check.detail) == (body, AT, None, "")


@pytest.mark.parametrize(
    ("fields", "manual"),
    [
        ({}, False),
        ({"manualDocument": "", "manualFace": ""}, False),
        ({"manualDocument": "DOC_VALIDATED"}, True),
        ({"manualFace": "FACE_MISMATCH"}, True),
    ],
)
def test_a_manual_verdict_is_present_when_manual_document_or_face_is_set(
    fields: dict[str, Any], manual: bool
) -> None:
    check = read_answer(REF, 200, answer(**fields), AT)

    assert check.answer is not None
    assert check.answer.manual_verdict is manual


@pytest.mark.parametrize(
    ("body", "cause", "detail"),
    [
        (b"<html>502</html>", Cause.NOT_JSON, "the answer is not JSON"),
        (b"\xff\xfe", Cause.NOT_JSON, "the answer is not JSON"),
        (b'["APPROVED"]', Cause.NOT_AN_OBJECT, "the answer is a JSON list"),
        (b'{"scanRef": "' + REF.encode() + b'"}', Cause.NO_STATUS, "the answer has no status"),
        (answer(status="FINISHED"), Cause.UNKNOWN_STATUS, 'unknown status "FINISHED"'),
        (answer(status={"overall": "APPROVED"}), Cause.UNKNOWN_STATUS, "unknown status {"),
        (answer(scanRef=None), Cause.NO_SCAN_REF, "the answer names no scanRef"),
        (answer(scanRef="another"), Cause.OTHER_SCAN_REF, 'the answer names scanRef "another"'),
    ],
)
def test_an_unusable_answer_is_kept_with_the_reason(body: bytes, cause: Cause, detail: str) -> None:
    check = read_answer(REF, 200, body, AT)

    assert not check.usable
    assert check.answer is None
    assert check.cause is cause
    assert check.detail.startswith(detail)
    assert check.body == body
    assert check.sha256 == hashlib.sha256(body).hexdigest()


def test_an_answer_other_than_200_is_refused_whatever_it_holds() -> None:
    check = read_answer(REF, 404, answer(), AT)

    assert (check.cause, check.detail) == (Cause.REFUSED, "answered HTTP 404")


def test_a_long_value_is_quoted_short() -> None:
    check = read_answer(REF, 200, answer(status="X" * 500), AT)

    assert len(check.detail) < 120
    assert check.detail.endswith("...")


def test_the_body_is_left_out_of_the_repr() -> None:
    assert "clientId" not in repr(read_answer(REF, 200, answer(), AT))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://ivs.idenfy.com",
        "ivs.idenfy.com",
        "https://key:secret@ivs.idenfy.com",
        "https://ivs.idenfy.com/?a=b",
    ],
)
def test_a_base_url_the_client_cannot_use_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ValueError, match="iDenfy API URL") as refused:
        IdenfyApiSettings(api_key="key", api_secret="secret", base_url=url)

    assert "secret" not in str(refused.value)


def test_the_settings_need_a_key_and_a_secret_and_keep_them_out_of_the_repr() -> None:
    with pytest.raises(ValueError, match="key and secret"):
        IdenfyApiSettings(api_key="key", api_secret="")
    settings = IdenfyApiSettings(api_key="the-key", api_secret="the-secret")

    assert "the-key" not in repr(settings)
    assert "the-secret" not in repr(settings)
    assert settings.base_url == "https://ivs.idenfy.com"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Mon, 07 Dec 2026 09:30:30 GMT", 30.0),
        ("Mon, 07 Dec 2026 09:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_as_a_date(value: str | None, seconds: float) -> None:
    assert retry_after_seconds(value, AT) == seconds
