"""The auditor UI's sessions end server-side, in every process; failed sign-ins are
limited and recorded. Over HTTP, in process, against each store."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from adapters.signing import fingerprint
from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from app.service.access import ApiKeys
from app.service.services import Services
from app.ui.session import SESSION_COOKIE
from tests.support.settings import API_TOKENS, environment

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
PAGE = "/ui/recent"


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_in(client: TestClient, token: str) -> httpx.Response:
    csrf = csrf_of(client.get("/ui/login"))
    form = {"csrf": csrf, "token": token, "next": PAGE}
    return client.post("/ui/login", data=form, follow_redirects=False)


def signed_in_cookie(client: TestClient) -> str:
    answer = sign_in(client, API_TOKENS["auditor"])
    assert answer.status_code == 303, answer.text
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie is not None
    return cookie


def page_with(services: Services, cookie: str) -> int:
    """The status ``/ui/recent`` answers a fresh browser holding ``cookie`` with."""
    with TestClient(create_app(services), raise_server_exceptions=False) as other:
        other.cookies.set(SESSION_COOKIE, cookie, path="/ui")
        return other.get(PAGE, follow_redirects=False).status_code


def without_auditor_key(services: Services) -> Services:
    """The same service configured without its auditor key."""
    keys = tuple(key for key in services.settings.api_keys if key.role != "auditor")
    settings = dataclasses.replace(services.settings, api_keys=keys)
    return dataclasses.replace(services, settings=settings, api_keys=ApiKeys(keys))


@pytest.fixture
def another_process(database_url: str) -> Iterator[Services]:
    """The service as another worker process over the same database has it."""
    built = bootstrap(load(environment(database_url)))
    yield built
    built.close()


def test_a_cookie_kept_from_before_signing_out_no_longer_opens_a_page(
    client: TestClient, services: Services
) -> None:
    cookie = signed_in_cookie(client)
    page = client.get(PAGE)
    assert page.status_code == 200

    answer = client.post("/ui/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)

    assert answer.status_code == 303
    assert page_with(services, cookie) == 303


def test_signing_out_in_one_process_ends_the_session_in_the_others(
    client: TestClient, another_process: Services
) -> None:
    cookie = signed_in_cookie(client)
    assert page_with(another_process, cookie) == 200

    page = client.get(PAGE)
    client.post("/ui/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)

    assert page_with(another_process, cookie) == 303


def test_other_sessions_of_the_same_key_outlive_one_signing_out(
    client: TestClient, services: Services
) -> None:
    kept = signed_in_cookie(client)
    client.cookies.clear()
    signed_in_cookie(client)
    page = client.get(PAGE)

    client.post("/ui/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)

    assert page_with(services, kept) == 200


def test_removing_a_key_ends_its_sessions_and_putting_it_back_does_not_revive_them(
    client: TestClient, services: Services
) -> None:
    auditor_cookie = signed_in_cookie(client)
    client.cookies.clear()
    admin = sign_in(client, API_TOKENS["admin"])
    admin_cookie = client.cookies.get(SESSION_COOKIE)
    assert admin.status_code == 303
    assert admin_cookie is not None

    assert page_with(without_auditor_key(services), auditor_cookie) == 303
    assert page_with(services, auditor_cookie) == 303
    assert page_with(services, admin_cookie) == 200


def test_failed_sign_ins_past_the_limit_are_answered_429_with_retry_after(
    client: TestClient, services: Services
) -> None:
    limit = services.settings.failure_limits.per_client
    for _ in range(limit):
        assert sign_in(client, "a-wrong-token-from-a-guesser").status_code == 401

    refused = sign_in(client, API_TOKENS["auditor"])

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    assert client.cookies.get(SESSION_COOKIE) is None
    other = TestClient(create_app(services), client=("192.0.2.10", 40000))
    with other:
        assert sign_in(other, API_TOKENS["auditor"]).status_code == 303


def test_each_failed_sign_in_is_recorded_without_the_token(
    client: TestClient, services: Services
) -> None:
    tried = "a-wrong-token-from-a-guesser"
    sign_in(client, tried)
    sign_in(client, API_TOKENS["backend"])  # known, but not allowed: not a failure

    entries = services.access_log.entries(10)

    assert [(e["keyId"], e["role"]) for e in entries] == [
        (f"testclient tried:{fingerprint(tried)}", "refused")
    ]
    assert entries[0]["what"].startswith("POST /ui/login")
    assert tried not in str(entries)
