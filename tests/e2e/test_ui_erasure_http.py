"""Erasure in the auditor UI, over HTTP against each store: the erased event in a
verification's timeline (who, why, when), erased payloads shown as such, the payload
page of an erased payload, and a client's retention page."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from app.service.erasure import erase
from app.service.services import Services
from tests.support.settings import API_TOKENS
from tests.support.ui import sign_in
from tests.support.webhooks import auth, deliver_result, wait_for_views

CLIENT = "client-<i>erased</i>"
OTHER_CLIENT = "client-kept-9c41"
SCAN_REF = "ui-erased-5a7d-0001"
KEPT_REF = "ui-kept-5a7d-0002"
REASON = "Request <b>under</b> Art. 17 & retention over"
ERASED_BY = "dpo@example.com"
FIRST_NAME = "JONAS"  # in every payload the tests deliver
ERASED_ENTRY = re.compile(r'<li id="entry-(\d+)" class="entry outcome-erased')


@pytest.fixture
def ui(services: Services, client: TestClient) -> TestClient:
    """The client signed in as an auditor, over two verifications of CLIENT's (one
    preliminary and one final result) and one of OTHER_CLIENT's, projected."""
    services.start_projections()
    deliver_result(client, SCAN_REF, client_id=CLIENT, final=False, overall="SUSPECTED")
    deliver_result(client, SCAN_REF, client_id=CLIENT)
    position = deliver_result(client, KEPT_REF, client_id=OTHER_CLIENT)
    wait_for_views(services, position)
    assert sign_in(client, API_TOKENS["auditor"]).status_code == 303
    return client


def erased(services: Services) -> None:
    """CLIENT erased, its erased events projected."""
    erase(services, CLIENT, REASON, ERASED_BY, override_retention=True)
    wait_for_views(services, services.ledger.recorder.max_notification_id() or 0)


def erased_entry(ui: TestClient, scan_ref: str = SCAN_REF) -> dict[str, Any]:
    timeline = ui.get(f"/verifications/{scan_ref}/timeline", headers=auth("auditor")).json()
    [entry] = [e for e in timeline["entries"] if e["kind"] == "erased"]
    return dict(entry)


def assert_html(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")


def test_the_timeline_says_who_erased_the_data_why_and_when(
    ui: TestClient, services: Services
) -> None:
    erased(services)
    entry = erased_entry(ui)

    page = ui.get(f"/ui/verifications/{SCAN_REF}")

    assert_html(page, 200)
    assert [int(n) for n in ERASED_ENTRY.findall(page.text)] == [entry["sequence"]]
    assert "Personal data erased by" in page.text
    assert ERASED_BY in page.text
    assert html.escape(REASON) in page.text
    assert "<b>under</b>" not in page.text
    assert entry["receivedAt"] in page.text
    assert "Hash chain valid" in page.text


def test_an_erased_payload_is_marked_erased_instead_of_linked(
    ui: TestClient, services: Services
) -> None:
    erased(services)
    erasure = erased_entry(ui)["sequence"]

    page = ui.get(f"/ui/verifications/{SCAN_REF}")

    assert page.text.count('<span class="tag tag-erased">payload erased</span>') == 2
    assert page.text.count(f'by <a href="#entry-{erasure}">#{erasure}</a>') == 2
    assert f"/ui/verifications/{SCAN_REF}/payloads/" not in page.text
    kept = ui.get(f"/ui/verifications/{KEPT_REF}")
    assert "payload erased" not in kept.text
    assert f"/ui/verifications/{KEPT_REF}/payloads/1" in kept.text


def test_the_payload_page_of_an_erased_payload_says_when_by_whom_and_why(
    ui: TestClient, services: Services
) -> None:
    before = ui.get(f"/ui/verifications/{SCAN_REF}/payloads/1")
    assert_html(before, 200)
    assert FIRST_NAME in before.text
    erased(services)
    entry = erased_entry(ui)
    timeline = ui.get(f"/verifications/{SCAN_REF}/timeline", headers=auth("auditor")).json()

    page = ui.get(f"/ui/verifications/{SCAN_REF}/payloads/1")

    assert_html(page, 410)
    assert "This payload was <strong>erased</strong> on" in page.text
    assert entry["receivedAt"] in page.text
    assert ERASED_BY in page.text
    assert html.escape(REASON) in page.text
    assert f"#entry-{entry['sequence']}" in page.text
    assert timeline["entries"][0]["payloadSha256"] in page.text
    assert FIRST_NAME not in page.text
    assert_html(ui.get(f"/ui/verifications/{SCAN_REF}/payloads/{entry['sequence']}"), 404)
    assert_html(ui.get(f"/ui/verifications/{KEPT_REF}/payloads/1"), 200)


def test_an_erased_payload_whose_erasure_is_not_in_the_timeline_yet_says_so(
    ui: TestClient, services: Services
) -> None:
    services.retention.destroy_client_keys(CLIENT, services.clock(), ERASED_BY, REASON)

    page = ui.get(f"/ui/verifications/{SCAN_REF}/payloads/2")

    assert_html(page, 410)
    assert "has not reached the timeline yet" in page.text
    assert FIRST_NAME not in page.text


def test_the_report_notes_the_erasure_and_the_erased_payloads(
    ui: TestClient, services: Services
) -> None:
    erased(services)

    page = ui.get(f"/ui/verifications/{SCAN_REF}/report")

    assert_html(page, 200)
    assert page.text.count("payload erased by #") == 2
    assert f"erased by {ERASED_BY}: {html.escape(REASON)}" in page.text


def test_the_client_page_shows_retention_holds_and_erasure(
    ui: TestClient, services: Services
) -> None:
    hold = ui.post(
        f"/clients/{OTHER_CLIENT}/holds", json={"reason": "court <order>"}, headers=auth("admin")
    ).json()
    erased(services)

    kept = ui.get(f"/ui/clients/{OTHER_CLIENT}")
    gone = ui.get("/ui/clients/" + CLIENT.replace("<", "%3C").replace(">", "%3E"))

    assert_html(kept, 200)
    api = ui.get(f"/clients/{OTHER_CLIENT}/retention", headers=auth("auditor")).json()
    assert api["retainUntil"] in kept.text
    assert html.escape("court <order>") in kept.text
    assert hold["id"] in kept.text
    assert hold["placedBy"] in kept.text
    assert f"/ui/verifications/{KEPT_REF}" in kept.text
    assert_html(gone, 200)
    assert html.escape(CLIENT) in gone.text
    assert "<i>erased</i>" not in gone.text
    assert ERASED_BY in gone.text
    assert html.escape(REASON) in gone.text
    assert "No legal hold is in force." in gone.text
    assert_html(ui.get("/ui/clients/client-never-seen"), 404)
    whats = [e["what"] for e in services.access_log.entries(20)]
    assert f"GET /ui/clients/{OTHER_CLIENT}" in whats


def test_the_verification_page_links_to_its_clients_retention(
    ui: TestClient, services: Services
) -> None:
    page = ui.get(f"/ui/verifications/{KEPT_REF}")

    assert f'href="/ui/clients/{OTHER_CLIENT}">retention</a>' in page.text
