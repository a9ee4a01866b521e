"""The fake iDenfy status API follows its script: statuses, failures, malformed answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.http.fake_idenfy_script import MALFORMED, FakeIdenfy, ScriptError, check_script

REF = "ref-1"


def fake(script: dict[str, Any] | None = None, seed: int = 0) -> FakeIdenfy:
    return FakeIdenfy("key", "secret", script, seed=seed)


def document(fake: FakeIdenfy, scan_ref: str = REF) -> dict[str, Any]:
    reply = fake.answer(scan_ref)
    assert reply.status == 200
    answered: dict[str, Any] = json.loads(reply.body)
    return answered


def test_without_a_script_every_verification_is_approved_automatically() -> None:
    answered = document(fake())

    assert answered["status"] == "APPROVED"
    assert answered["scanRef"] == REF
    assert (answered["manualDocument"], answered["manualFace"]) == (None, None)


def test_a_scanref_of_its_own_overrides_the_default() -> None:
    scripted = fake({"default": {"status": "EXPIRED"}, "scanRefs": {REF: {"status": "DENIED"}}})

    assert document(scripted)["status"] == "DENIED"
    assert document(scripted, "ref-2")["status"] == "EXPIRED"


def test_a_manual_verdict_copies_the_automated_one() -> None:
    answered = document(fake({"default": {"status": "SUSPECTED", "manual": True}}))

    assert answered["manualDocument"] == "DOC_VALIDATED"
    assert answered["manualFace"] == "FACE_MATCH"
    assert answered["mismatchTags"] == ["NAME"]


@pytest.mark.parametrize("malformed", MALFORMED)
def test_each_malformed_answer_is_broken_in_its_own_way(malformed: str) -> None:
    body = fake({"scanRefs": {REF: {"malformed": malformed}}}).answer(REF).body

    parsed: Any = json.loads(body) if malformed != "not-json" else None
    if malformed == "not-json":
        assert body.startswith(b"<html>")
    elif malformed == "not-an-object":
        assert isinstance(parsed, list)
    elif malformed == "no-status":
        assert "status" not in parsed
    elif malformed == "unknown-status":
        assert parsed["status"] == "NOT_A_STATUS"
    elif malformed == "no-scan-ref":
        assert "scanRef" not in parsed
    else:
        assert parsed["scanRef"] == f"other-{REF}"


def test_the_next_calls_fail_as_scripted_then_answer() -> None:
    failing = fake({"failures": {"status": 429, "next": 2, "retryAfter": 5}})

    replies = [failing.answer(REF) for _ in range(3)]

    assert [reply.status for reply in replies] == [429, 429, 200]
    assert replies[0].headers == {"Retry-After": "5"}
    assert json.loads(replies[0].body)["identifier"] == "TOO_MANY_REQUESTS"


def test_a_fraction_of_calls_fail() -> None:
    failing = fake({"failures": {"status": 500, "fraction": 0.5}}, seed=7)

    statuses = [failing.answer(REF).status for _ in range(200)]

    assert 60 < statuses.count(500) < 140
    assert set(statuses) == {200, 500}


def test_calls_are_counted_per_scanref_until_reset() -> None:
    counting = fake({"failures": {"next": 1}})
    for scan_ref in (REF, REF, "ref-2"):
        counting.answer(scan_ref)
    counting.refused()

    assert counting.calls() == {"calls": {REF: 2, "ref-2": 1}, "total": 3, "unauthorized": 1}
    counting.reset()
    assert counting.calls() == {"calls": {}, "total": 0, "unauthorized": 0}


def test_a_merged_script_adds_scanrefs_and_keeps_the_others() -> None:
    scripted = fake({"scanRefs": {REF: {"status": "DENIED"}}})

    scripted.set_script({"scanRefs": {"ref-2": {"status": "REVIEWING"}}}, merge=True)

    assert document(scripted)["status"] == "DENIED"
    assert document(scripted, "ref-2")["status"] == "REVIEWING"


def test_a_delay_and_an_error_status_can_be_scripted() -> None:
    reply = fake({"delay": 0.5, "scanRefs": {REF: {"httpStatus": 404}}}).answer(REF)

    assert (reply.status, reply.delay) == (404, 0.5)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ([], "a script is a JSON object"),
        ({"statuses": {}}, "unknown script keys"),
        ({"default": {"colour": "red"}}, "default: unknown keys"),
        ({"scanRefs": {REF: {"malformed": "odd"}}}, "ref-1: malformed is one of"),
        ({"failures": {"status": 404}}, "429 or a 5xx"),
        ({"failures": {"fraction": 2}}, "between 0 and 1"),
        ({"failures": {"next": "many"}}, "failures.next is a number"),
    ],
)
def test_a_script_the_fake_cannot_follow_is_refused(script: object, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        check_script(script)


def test_the_credentials_stay_out_of_its_repr() -> None:
    assert "secret" not in repr(fake())
