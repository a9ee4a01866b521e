"""The auditor web UI over HTTP, in process, against each store."""

from __future__ import annotations

import html
import re

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from app.service.ledger import Ledger
from app.service.services import Services
from app.ui.app import SECURITY_HEADERS
from app.ui.session import CSRF_COOKIE, SESSION_COOKIE
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS
from tests.support.ui import csrf_of, sign_in
from tests.support.webhooks import deliver

SCAN_REF = "ui-3f2b8c1e-5a7d-11ef"
CLIENT_ID = "client-<b>bold</b>"
HOSTILE_NAME = "</script><script>alert(1)</script>"


@pytest.fixture
def ui(services: Services, client: TestClient) -> TestClient:
    """The service's client, with the projection workers running."""
    services.start_projections()
    return client


def settle(services: Services) -> None:
    head = services.ledger.recorder.max_notification_id() or 0
    for view in services.views.all():
        view.wait(Ledger.name, head, timeout=10)


def record_history(client: TestClient, services: Services) -> None:
    """Preliminary, then manual, then a late redelivery of the preliminary result."""
    deliver(
        client,
        "auto-finished",
        result_body(
            SCAN_REF, final=False, overall="SUSPECTED", client_id=CLIENT_ID, finish_time=100
        ),
    )
    deliver(
        client,
        "manual-finished",
        result_body(SCAN_REF, final=True, overall="APPROVED", client_id=CLIENT_ID, finish_time=100),
    )
    deliver(
        client,
        "auto-finished",
        result_body(
            SCAN_REF,
            final=False,
            overall="SUSPECTED",
            client_id=CLIENT_ID,
            finish_time=100,
            data={"docFirstName": HOSTILE_NAME},
        ),
    )
    settle(services)  # fmt: skip


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]


def assert_html(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")


# Signing in and out


def test_an_auditor_key_signs_in_with_a_cookie_that_does_not_hold_the_key(
    ui: TestClient,
) -> None:
    answer = sign_in(ui, API_TOKENS["auditor"])

    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/recent"
    [cookie] = set_cookie_headers(answer, SESSION_COOKIE)
    assert API_TOKENS["auditor"] not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie
    page = ui.get("/ui/recent")
    assert_html(page, 200)
    assert "Sign out" in page.text


def test_an_admin_key_signs_in_too(ui: TestClient) -> None:
    assert sign_in(ui, API_TOKENS["admin"]).status_code == 303
    assert_html(ui.get("/ui/recent", follow_redirects=False), 200)


def test_a_backend_key_is_refused_with_a_clear_message(ui: TestClient) -> None:
    answer = sign_in(ui, API_TOKENS["backend"])

    assert_html(answer, 403)
    assert "A backend key cannot sign in to the auditor UI" in answer.text
    assert not set_cookie_headers(answer, SESSION_COOKIE)
    assert ui.get("/ui/recent", follow_redirects=False).status_code == 303


def test_an_unknown_key_is_refused(ui: TestClient) -> None:
    answer = sign_in(ui, "not-a-configured-token")

    assert_html(answer, 401)
    assert "Unknown API key" in answer.text
    assert not set_cookie_headers(answer, SESSION_COOKIE)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/recent",
        f"/ui/verifications/{SCAN_REF}",
        f"/ui/verifications/{SCAN_REF}/report",
        f"/ui/verifications/{SCAN_REF}/payloads/1",
        "/ui/search?q=user-1",
        "/ui/verifications/unknown-ref",
    ],
)
def test_every_page_redirects_to_the_sign_in_page_when_not_signed_in(
    ui: TestClient, path: str
) -> None:
    answer = ui.get(path, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=")
    assert sign_in(ui, API_TOKENS["auditor"], next_path=path).headers["location"] == path


def test_a_forged_session_cookie_leads_back_to_the_sign_in_page(ui: TestClient) -> None:
    sign_in(ui, API_TOKENS["auditor"])
    forged = ui.cookies[SESSION_COOKIE][:-4] + "0000"
    ui.cookies.clear()
    ui.cookies.set(SESSION_COOKIE, forged)

    answer = ui.get("/ui/recent", follow_redirects=False)

    assert answer.status_code == 303
    assert "Max-Age=0" in set_cookie_headers(answer, SESSION_COOKIE)[0]


@pytest.mark.parametrize("token", [None, "", "0" * 64], ids=["missing", "empty", "wrong"])
def test_signing_in_without_the_right_csrf_token_is_refused(
    ui: TestClient, token: str | None
) -> None:
    ui.get("/ui/login")
    form = {"token": API_TOKENS["auditor"], "next": "/ui/recent"}
    if token is not None:
        form["csrf"] = token

    answer = ui.post("/ui/login", data=form, follow_redirects=False)

    assert_html(answer, 403)
    assert not set_cookie_headers(answer, SESSION_COOKIE)


def test_a_csrf_token_without_its_cookie_is_refused(ui: TestClient) -> None:
    csrf = csrf_of(ui.get("/ui/login"))
    ui.cookies.clear()

    form = {"csrf": csrf, "token": API_TOKENS["auditor"]}
    answer = ui.post("/ui/login", data=form, follow_redirects=False)

    assert answer.status_code == 403


def test_signing_out_needs_the_csrf_token_and_then_ends_the_session(ui: TestClient) -> None:
    sign_in(ui, API_TOKENS["auditor"])
    page = ui.get("/ui/recent")

    refused = ui.post("/ui/logout", data={"csrf": "0" * 64}, follow_redirects=False)
    assert_html(refused, 403)
    assert ui.get("/ui/recent", follow_redirects=False).status_code == 200

    answer = ui.post("/ui/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"
    assert ui.get("/ui/recent", follow_redirects=False).status_code == 303


def test_a_form_that_is_not_url_encoded_is_refused(ui: TestClient) -> None:
    answer = ui.post("/ui/login", json={"token": API_TOKENS["auditor"]})

    assert_html(answer, 415)


# Headers


def test_every_ui_response_carries_the_security_headers(ui: TestClient) -> None:
    anonymous = [
        ui.get("/ui", follow_redirects=False),
        ui.get("/ui/login"),
        ui.get("/ui/recent", follow_redirects=False),
        ui.get("/ui/static/ui.css"),
        ui.post("/ui/login", data={"token": "x"}),
    ]
    sign_in(ui, API_TOKENS["auditor"])
    signed_in = [ui.get("/ui/recent"), ui.get("/ui/verifications/nope"), ui.get("/ui/nowhere")]

    for response in anonymous + signed_in:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    assert "default-src 'self'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in SECURITY_HEADERS["Content-Security-Policy"]


def test_the_csrf_cookie_is_http_only_and_strict(ui: TestClient) -> None:
    [cookie] = set_cookie_headers(ui.get("/ui/login"), CSRF_COOKIE)

    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie


def test_the_json_api_keeps_its_own_headers(ui: TestClient) -> None:
    assert "content-security-policy" not in ui.get("/healthz").headers


# Pages


def test_the_access_log_records_each_ui_read_like_the_api_does(
    ui: TestClient, services: Services
) -> None:
    record_history(ui, services)
    sign_in(ui, API_TOKENS["auditor"])
    ui.get("/ui/recent")
    ui.get(f"/ui/verifications/{SCAN_REF}")
    ui.get(f"/ui/verifications/{SCAN_REF}/payloads/2")
    ui.get(f"/ui/verifications/{SCAN_REF}/report")
    ui.get("/ui/search", params={"q": CLIENT_ID})
    auditor = {"Authorization": f"Bearer {API_TOKENS['auditor']}"}
    ui.get(f"/verifications/{SCAN_REF}/timeline", headers=auditor)

    entries = services.access_log.entries(10)

    assert [e["what"] for e in reversed(entries)] == [
        "GET /ui/recent",
        f"GET /ui/verifications/{SCAN_REF}",
        f"GET /ui/verifications/{SCAN_REF}/payloads/2",
        f"GET /ui/verifications/{SCAN_REF}/report",
        "GET /ui/search?q=client-%3Cb%3Ebold%3C%2Fb%3E",
        f"GET /verifications/{SCAN_REF}/timeline",
    ]
    assert {(e["keyId"], e["role"]) for e in entries} == {(entries[0]["keyId"], "auditor")}


def test_the_sign_in_page_and_refused_reads_are_not_recorded(
    ui: TestClient, services: Services
) -> None:
    ui.get("/ui/recent")
    sign_in(ui, API_TOKENS["backend"])

    assert services.access_log.entries(10) == []


def test_the_verification_page_shows_the_timeline_and_the_chain(
    ui: TestClient, services: Services
) -> None:
    record_history(ui, services)
    sign_in(ui, API_TOKENS["auditor"])
    api = ui.get(
        f"/verifications/{SCAN_REF}/timeline",
        headers={"Authorization": f"Bearer {API_TOKENS['auditor']}"},
    ).json()

    page = ui.get(f"/ui/verifications/{SCAN_REF}")

    assert_html(page, 200)
    assert 'class="entry outcome-preliminary superseded"' in page.text
    assert 'class="entry outcome-manual in-force"' in page.text
    assert 'class="entry outcome-preliminary late redelivery superseded"' in page.text
    assert "Hash chain valid" in page.text
    assert api["chain"]["head"] in page.text
    for entry in api["entries"]:
        assert entry["hash"] in page.text
    assert f"/ui/verifications/{SCAN_REF}/payloads/3" in page.text


def test_the_payload_is_shown_escaped_and_checked_against_its_digest(
    ui: TestClient, services: Services
) -> None:
    record_history(ui, services)
    sign_in(ui, API_TOKENS["auditor"])

    page = ui.get(f"/ui/verifications/{SCAN_REF}/payloads/3")

    assert_html(page, 200)
    assert "<script" not in page.text
    assert html.escape(HOSTILE_NAME) in page.text
    assert "matches the recorded digest" in page.text
    assert_html(ui.get(f"/ui/verifications/{SCAN_REF}/payloads/9"), 404)


def test_a_hostile_client_id_is_escaped_on_every_page(ui: TestClient, services: Services) -> None:
    record_history(ui, services)
    sign_in(ui, API_TOKENS["auditor"])

    pages = [
        ui.get("/ui/recent"),
        ui.get(f"/ui/verifications/{SCAN_REF}"),
        ui.get(f"/ui/verifications/{SCAN_REF}/report"),
        ui.get("/ui/search", params={"q": CLIENT_ID}),
    ]

    for page in pages:
        assert_html(page, 200)
        assert "<b>" not in page.text
        assert html.escape(CLIENT_ID) in page.text


def test_a_script_tag_cannot_even_be_a_scan_ref(ui: TestClient) -> None:
    raw = encode(result_body("<script>"))
    answer = ui.post(
        "/webhooks/idenfy/auto-finished", content=raw, headers=signed_headers(raw, SIGNING_KEYS[0])
    )
    assert answer.json()["result"] == "quarantined"
    sign_in(ui, API_TOKENS["auditor"])

    page = ui.get("/ui/search", params={"q": "<script>alert(1)</script>"})

    assert_html(page, 200)
    assert "<script" not in page.text
    assert "No verification has scanRef or clientId" in page.text


def test_an_unknown_scan_ref_gets_the_not_found_page(ui: TestClient) -> None:
    sign_in(ui, API_TOKENS["auditor"])

    page = ui.get("/ui/verifications/no-such-ref")

    assert_html(page, 404)
    assert "There is no verification with scanRef no-such-ref." in page.text
    assert_html(ui.get("/ui/verifications/no-such-ref/report"), 404)


def test_search_by_scan_ref_opens_its_verification(ui: TestClient, services: Services) -> None:
    record_history(ui, services)
    sign_in(ui, API_TOKENS["auditor"])

    answer = ui.get("/ui/search", params={"q": SCAN_REF}, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/ui/verifications/{SCAN_REF}"


def test_search_by_client_id_lists_that_clients_verifications(
    ui: TestClient, services: Services
) -> None:
    record_history(ui, services)
    deliver(ui, "auto-finished", result_body("ui-second", client_id=CLIENT_ID, finish_time=5))
    deliver(ui, "auto-finished", result_body("ui-other-client", client_id="someone-else"))
    settle(services)
    sign_in(ui, API_TOKENS["auditor"])

    page = ui.get("/ui/search", params={"q": CLIENT_ID})

    assert_html(page, 200)
    assert page.text.index("ui-second") < page.text.index(SCAN_REF)
    assert "ui-other-client" not in page.text
    assert "2 verifications: 2 approved" in page.text


def test_the_recent_page_lists_verifications_newest_first(
    ui: TestClient, services: Services
) -> None:
    for ref in ("ui-first", "ui-second", "ui-third"):
        deliver(ui, "auto-finished", result_body(ref))
    deliver(ui, "manual-finished", result_body("ui-first", finish_time=1718787742))
    settle(services)
    sign_in(ui, API_TOKENS["auditor"])

    page = ui.get("/ui/recent")

    positions = [page.text.index(f">{ref}<") for ref in ("ui-first", "ui-third", "ui-second")]
    assert positions == sorted(positions)


def test_the_report_says_who_generated_it_when_with_every_hash(
    ui: TestClient, services: Services
) -> None:
    record_history(ui, services)
    sign_in(ui, API_TOKENS["admin"])

    page = ui.get(f"/ui/verifications/{SCAN_REF}/report")

    assert_html(page, 200)
    key_id = services.access_log.entries(1)[0]["keyId"]
    assert key_id.startswith("admin:")
    assert f'<strong class="mono">{key_id}</strong> (admin)' in page.text
    assert re.search(r"Generated at <strong class=\"mono\">\d{4}-\d\d-\d\dT[\d:]+Z", page.text)
    assert 'class="topbar' not in page.text
    timeline = services.views.timeline.timeline(SCAN_REF)
    assert timeline is not None
    for entry in timeline:
        assert entry["hash"] in page.text
        assert entry["payloadSha256"] in page.text
    assert "late arrival; redelivery; superseded by #2" in page.text
