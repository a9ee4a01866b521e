"""The fake iDenfy status API over HTTP: credentials, scripting and counting endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from app.cli.fake_idenfy import FakeIdenfyServer
from tests.support.fake_idenfy import API_KEY, API_SECRET, fake_idenfy

REF = "ref-1"


@pytest.fixture
def server() -> Iterator[FakeIdenfyServer]:
    with fake_idenfy() as running:
        yield running


@pytest.fixture
def http(server: FakeIdenfyServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=5.0) as client:
        yield client


def ask(
    http: httpx2.Client, body: object, auth: tuple[str, str] = (API_KEY, API_SECRET)
) -> httpx2.Response:
    return http.post("/api/v2/status", json=body, auth=auth)


def test_it_answers_a_status_question_with_the_right_credentials(http: httpx2.Client) -> None:
    answered = ask(http, {"scanRef": REF})

    assert answered.status_code == 200
    assert answered.json()["scanRef"] == REF
    assert answered.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "auth", [(API_KEY, "wrong"), ("wrong", API_SECRET), None], ids=["secret", "key", "none"]
)
def test_a_wrong_or_missing_credential_gets_401(
    http: httpx2.Client, auth: tuple[str, str] | None
) -> None:
    given: dict[str, Any] = {} if auth is None else {"auth": auth}
    answered = http.post("/api/v2/status", json={"scanRef": REF}, **given)

    assert answered.status_code == 401
    assert answered.json()["identifier"] == "UNAUTHORIZED"
    assert http.get("/_fake/calls").json() == {"calls": {}, "total": 0, "unauthorized": 1}


@pytest.mark.parametrize(
    ("body", "identifier"),
    [(b"{", "JSON_ERROR"), (b"{}", "MISSING_VALUE"), (b'{"scanRef": 7}', "MISSING_VALUE")],
)
def test_a_question_without_a_scanref_gets_400(
    http: httpx2.Client, body: bytes, identifier: str
) -> None:
    answered = http.post("/api/v2/status", content=body, auth=(API_KEY, API_SECRET))

    assert answered.status_code == 400
    assert answered.json()["identifier"] == identifier


def test_the_script_is_replaced_merged_read_and_reset_over_http(http: httpx2.Client) -> None:
    assert http.put("/_fake/script", json={"default": {"status": "DENIED"}}).status_code == 200
    merged = http.post("/_fake/script", json={"scanRefs": {REF: {"status": "REVIEWING"}}})

    assert merged.json() == {
        "default": {"status": "DENIED"},
        "scanRefs": {REF: {"status": "REVIEWING"}},
    }
    assert ask(http, {"scanRef": REF}).json()["status"] == "REVIEWING"
    assert ask(http, {"scanRef": "ref-2"}).json()["status"] == "DENIED"
    assert http.get("/_fake/calls").json()["calls"] == {REF: 1, "ref-2": 1}
    assert http.post("/_fake/reset").status_code == 204
    assert http.get("/_fake/script").json() == {}
    assert http.get("/_fake/calls").json()["total"] == 0


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"nope", "the script is not JSON"), (b'{"delays": 1}', "unknown script keys")],
)
def test_a_script_it_cannot_follow_gets_422(
    http: httpx2.Client, content: bytes, error: str
) -> None:
    answered = http.put("/_fake/script", content=content)

    assert answered.status_code == 422
    assert answered.json()["error"].startswith(error)


def test_a_scripted_429_carries_retry_after(http: httpx2.Client) -> None:
    http.put("/_fake/script", json={"failures": {"status": 429, "next": 1, "retryAfter": 2}})

    answered = ask(http, {"scanRef": REF})

    assert answered.status_code == 429
    assert answered.headers["retry-after"] == "2"
    assert ask(http, {"scanRef": REF}).status_code == 200
