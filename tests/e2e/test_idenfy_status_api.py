"""The status API client over HTTP, against the fake iDenfy API served in this process."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator

import pytest

from adapters.idenfy_api import AuthenticationError, UnavailableError
from adapters.idenfy_status import KNOWN_STATUSES, Cause
from app.cli.fake_idenfy import FakeIdenfyServer
from tests.support.fake_idenfy import (
    API_KEY,
    API_SECRET,
    ASKED_AT,
    RecordedSleep,
    client_of,
    fake_idenfy,
)

REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"


@pytest.fixture
def server() -> Iterator[FakeIdenfyServer]:
    with fake_idenfy() as running:
        yield running


@pytest.mark.parametrize("status", sorted(KNOWN_STATUSES))
def test_every_documented_status_comes_back_usable(server: FakeIdenfyServer, status: str) -> None:
    server.fake.set_script({"scanRefs": {REF: {"status": status}}})

    check = client_of(server).check(REF)

    assert check.usable
    assert check.answer is not None
    assert (check.answer.status, check.answer.scan_ref) == (status, REF)
    assert (check.scan_ref, check.http_status, check.cause, check.attempts) == (REF, 200, None, 1)
    assert check.sha256 == hashlib.sha256(check.body).hexdigest()
    assert check.asked_at == ASKED_AT


def test_the_answer_is_kept_byte_for_byte(server: FakeIdenfyServer) -> None:
    check = client_of(server).check(REF)

    assert check.body.startswith(b'{"fraudTags": []')
    assert f'"scanRef": "{REF}"'.encode() in check.body


@pytest.mark.parametrize(("manual", "expected"), [(True, True), (False, False)])
def test_a_reviewers_verdict_is_told_apart_from_an_automated_one(
    server: FakeIdenfyServer, manual: bool, expected: bool
) -> None:
    server.fake.set_script({"default": {"status": "DENIED", "manual": manual}})

    answer = client_of(server).check(REF).answer

    assert answer is not None
    assert answer.manual_verdict is expected
    assert answer.auto_document == "DOC_NOT_FOUND"


@pytest.mark.parametrize(
    "malformed",
    ["not-json", "not-an-object", "no-status", "unknown-status", "no-scan-ref", "other-scan-ref"],
)
def test_a_malformed_answer_comes_back_with_its_bytes_and_cause(
    server: FakeIdenfyServer, malformed: str
) -> None:
    server.fake.set_script({"scanRefs": {REF: {"malformed": malformed}}})

    check = client_of(server).check(REF)

    assert not check.usable
    assert check.cause == Cause(malformed)
    assert check.detail
    assert check.body
    assert check.sha256 == hashlib.sha256(check.body).hexdigest()


def test_an_error_answer_that_is_no_reason_to_ask_again_is_returned_refused(
    server: FakeIdenfyServer,
) -> None:
    server.fake.set_script({"scanRefs": {REF: {"httpStatus": 404}}})
    sleep = RecordedSleep()

    check = client_of(server, sleep).check(REF)

    assert (check.http_status, check.cause, check.attempts) == (404, Cause.REFUSED, 1)
    assert b"BAD_VALUE" in check.body
    assert sleep.delays == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_429_or_5xx_is_asked_again_after_growing_waits(
    server: FakeIdenfyServer, status: int
) -> None:
    server.fake.set_script({"failures": {"status": status, "next": 3, "retryAfter": 0}})
    sleep = RecordedSleep()

    check = client_of(server, sleep).check(REF)

    assert check.usable
    assert check.attempts == 4
    assert sleep.delays == [1.0, 2.0, 4.0]
    assert server.fake.calls()["calls"] == {REF: 4}


def test_retry_after_is_waited_for_when_longer_than_the_backoff(server: FakeIdenfyServer) -> None:
    server.fake.set_script({"failures": {"status": 429, "next": 2, "retryAfter": 3}})
    sleep = RecordedSleep()

    check = client_of(server, sleep).check(REF)

    assert check.usable
    assert sleep.delays == [3.0, 3.0]


def test_a_retry_after_longer_than_the_client_may_wait_ends_the_attempts(
    server: FakeIdenfyServer,
) -> None:
    server.fake.set_script({"failures": {"status": 429, "next": 1, "retryAfter": 600}})
    sleep = RecordedSleep()

    with pytest.raises(UnavailableError) as raised:
        client_of(server, sleep, max_delay=60).check(REF)

    assert (raised.value.http_status, raised.value.retry_after) == (429, 600)
    assert sleep.delays == []


def test_the_client_gives_up_after_its_bound(server: FakeIdenfyServer) -> None:
    server.fake.set_script({"failures": {"status": 503, "next": 100, "retryAfter": 0}})
    sleep = RecordedSleep()

    with pytest.raises(UnavailableError) as raised:
        client_of(server, sleep, retries=2).check(REF)

    assert (raised.value.attempts, raised.value.http_status) == (3, 503)
    assert sleep.delays == [1.0, 2.0]
    assert server.fake.calls()["calls"] == {REF: 3}


def test_a_slow_answer_times_out_and_is_asked_again(server: FakeIdenfyServer) -> None:
    server.fake.set_script({"scanRefs": {REF: {"delay": 1}}})
    sleep = RecordedSleep()

    with pytest.raises(UnavailableError) as raised:
        client_of(server, sleep, retries=1, timeout=0.2).check(REF)

    assert raised.value.attempts == 2
    assert raised.value.http_status is None
    assert "TimeoutError" in str(raised.value)


def test_no_listener_at_all_is_unavailable_after_the_retries() -> None:
    with fake_idenfy() as stopped:
        pass
    sleep = RecordedSleep()

    with pytest.raises(UnavailableError) as raised:
        client_of(stopped, sleep, retries=1).check(REF)

    assert raised.value.attempts == 2
    assert sleep.delays == [1.0]


def test_a_wrong_secret_raises_the_authentication_error_at_once(server: FakeIdenfyServer) -> None:
    sleep = RecordedSleep()

    with pytest.raises(AuthenticationError) as raised:
        client_of(server, sleep, api_secret="not-the-secret").check(REF)

    assert raised.value.http_status == 401
    assert sleep.delays == []
    assert server.fake.calls()["unauthorized"] == 1
    assert server.fake.calls()["calls"] == {}


def test_the_credentials_appear_in_no_repr_error_or_log_line(
    server: FakeIdenfyServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.fake.set_script({"failures": {"status": 503, "next": 100, "retryAfter": 0}})
    client = client_of(server, retries=2)
    seen: list[str] = [repr(client), str(client), repr(client._settings)]

    with caplog.at_level(logging.DEBUG), pytest.raises(UnavailableError) as unavailable:
        client.check(REF)
    with pytest.raises(AuthenticationError) as refused:
        client_of(server, api_secret=API_SECRET + "-wrong").check(REF)
    seen += [repr(unavailable.value), str(unavailable.value), caplog.text]
    seen += [repr(refused.value), str(refused.value)]

    assert caplog.records, "the retries were logged"
    basic = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    for text in seen:
        assert API_KEY not in text
        assert API_SECRET not in text
        assert basic not in text
