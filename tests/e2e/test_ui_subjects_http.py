"""The auditor UI's pages of AML monitorings and companies (both stores): open alerts,
a monitoring's state and history with its payloads, companies, and the link from a
verification to the monitoring that names it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.service.services import Services
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS
from tests.support.ui import sign_in
from tests.support.webhooks import deliver, wait_for_views

HOSTILE = "</script><script>alert(1)</script>"


def send(client: TestClient, body: dict[str, object], event_type: str) -> int:
    raw = encode(body)
    headers = signed_headers(raw, SIGNING_KEYS[0], event_type)
    answer = client.post("/webhooks/idenfy", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["position"])


@pytest.fixture
def ui(services: Services, client: TestClient) -> TestClient:
    services.start_projections()
    deliver(client, "auto-finished", result_body("kyc-ui-1", final=True, overall="APPROVED"))
    watched: dict[str, object] = {"scanRefList": ["kyc-ui-1"], "status": "ACTIVE", "name": HOSTILE}
    for monitoring_id, alert in (("m-quiet", "NO_ALERT"), ("m-hit", "ALERT")):
        body = {"monitoringId": monitoring_id, "alertStatus": alert, **watched}
        send(client, body, "AML_MONITORING")
    last = send(client, {"companyId": "co-ui", "status": "REQUESTED"}, "COMPANY_INFO_REQUEST")
    wait_for_views(services, last)
    assert sign_in(client, API_TOKENS["auditor"]).status_code == 303
    return client


def test_the_aml_page_lists_open_alerts_and_every_monitoring_on_request(ui: TestClient) -> None:
    alerts = ui.get("/ui/aml")
    every = ui.get("/ui/aml?status=")

    assert alerts.status_code == 200, alerts.text
    assert "m-hit" in alerts.text
    assert "m-quiet" not in alerts.text
    assert "m-hit" in every.text
    assert "m-quiet" in every.text


def test_a_monitorings_page_shows_its_state_history_and_payloads(ui: TestClient) -> None:
    page = ui.get("/ui/aml/m-hit")

    assert page.status_code == 200, page.text
    assert "Hash chain valid" in page.text
    assert "AML monitoring delivery" in page.text
    assert 'href="/ui/verifications/kyc-ui-1"' in page.text
    assert HOSTILE not in page.text
    payload = ui.get("/ui/aml/m-hit/payloads/1")
    assert payload.status_code == 200, payload.text
    assert "matches the recorded digest" in payload.text
    assert 'href="/ui/aml/m-hit#entry-1"' in payload.text
    assert ui.get("/ui/aml/m-none").status_code == 404
    assert ui.get("/ui/aml/m-hit/payloads/9").status_code == 404


def test_a_verification_links_to_the_monitoring_that_names_it(ui: TestClient) -> None:
    page = ui.get("/ui/verifications/kyc-ui-1")

    assert page.status_code == 200, page.text
    assert 'href="/ui/aml/m-hit"' in page.text


def test_companies_are_listed_and_shown_with_their_history(ui: TestClient) -> None:
    listed = ui.get("/ui/companies")
    page = ui.get("/ui/companies/co-ui")

    assert 'href="/ui/companies/co-ui"' in listed.text
    assert page.status_code == 200, page.text
    assert "REQUESTED" in page.text
    assert "COMPANY_INFO_REQUEST" in page.text
    assert ui.get("/ui/companies/co-ui/payloads/1").status_code == 200


def test_the_subject_pages_need_a_signed_in_auditor(services: Services, client: TestClient) -> None:
    for path in ("/ui/aml", "/ui/aml/m-hit", "/ui/companies", "/ui/companies/co-ui"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/ui/login")
