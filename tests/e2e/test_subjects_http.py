"""AML ongoing monitoring and KYB companies through the webhook endpoint and the read
API, on both stores: recorded on subjects of their own, read as documents, lists and
timelines, linked from the verifications a monitoring names, and rebuilt alike by a replay."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from adapters.quarantine import QuarantinedDelivery
from adapters.signing import fingerprint
from app.cli.scenarios import HEADER_OF_KIND, plan
from app.service.audit import verify_ledger
from app.service.replay import replay
from app.service.reprocess import reprocess
from app.service.services import Services
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import SIGNING_KEYS
from tests.support.tampering import EventTable
from tests.support.webhooks import auth, wait_for_views


def monitoring_body(monitoring_id: str, alert: str, *scan_refs: str) -> dict[str, Any]:
    """An ``amlMonitoring`` body with every documented block filled."""
    return {
        "monitoringId": monitoring_id,
        "name": "JANE",
        "surname": "DOE",
        "nationality": "LT",
        "dob": "1990-01-01",
        "isActive": True,
        "expiration": "2027-12-31",
        "scanRefList": list(scan_refs),
        "alertStatus": alert,
        "status": "ACTIVE",
        "pepsStatus": "NOT_CHECKED",
        "sanctionsStatus": "SUSPECTED" if alert == "ALERT" else "NOT_SUSPECTED",
        "adverseMediaStatus": "NOT_CHECKED",
        "results": [
            {
                "status": {
                    "serviceSuspected": alert == "ALERT",
                    "serviceUsed": True,
                    "serviceFound": True,
                    "checkSuccessful": True,
                    "overallStatus": "SUSPECTED" if alert == "ALERT" else "NOT_SUSPECTED",
                },
                "serviceName": "AML_OPEN_SANCTIONS",
                "serviceGroupType": "AML",
                "uid": "u-1",
                "errorMessage": None,
                "data": [{"name": "JANE", "surname": "DOE", "score": 97.5, "pepLevel": 2}],
            }
        ],
    }


def deliver(client: TestClient, body: dict[str, Any], event_type: str) -> dict[str, Any]:
    raw = encode(body)
    answer = client.post(
        "/webhooks/idenfy", content=raw, headers=signed_headers(raw, SIGNING_KEYS[0], event_type)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_an_aml_monitoring_is_recorded_read_listed_and_linked_from_its_verification(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    result = encode(result_body("kyc-1", final=True, overall="APPROVED"))
    headers = signed_headers(result, SIGNING_KEYS[0])
    assert client.post("/webhooks/idenfy/auto-finished", content=result, headers=headers).is_success
    quiet = deliver(client, monitoring_body("m-1", "NO_ALERT", "kyc-1"), "AML_MONITORING")
    alert = deliver(client, monitoring_body("m-1", "ALERT", "kyc-1"), "AML MONITORING")
    other = deliver(client, monitoring_body("m-2", "NO_ALERT"), "AML_MONITORING")

    assert (quiet["result"], quiet["scanRef"], quiet["sequence"]) == ("recorded", "aml:m-1", 1)
    assert quiet["subject"] == "aml:m-1"
    assert (alert["sequence"], other["subject"]) == (2, "aml:m-2")
    wait_for_views(services, other["position"])
    document = client.get("/aml/monitorings/m-1", headers=auth()).json()
    assert document["monitoringId"] == "m-1"
    assert (document["status"], document["alertStatus"]) == ("ACTIVE", "ALERT")
    assert (document["pepsStatus"], document["sanctionsStatus"]) == ("NOT_CHECKED", "SUSPECTED")
    assert (document["adverseMediaStatus"], document["scanRefs"]) == ("NOT_CHECKED", ["kyc-1"])
    assert document["events"] == 2
    assert document["lastEventAt"]
    status = client.get("/verifications/kyc-1", headers=auth()).json()
    assert status["status"] == "APPROVED"
    assert status["amlMonitoring"] == {
        "monitoringId": "m-1",
        "status": "ACTIVE",
        "alertStatus": "ALERT",
    }
    queried = client.get("/verifications/kyc-1?minPosition=1", headers=auth()).json()
    assert queried == status
    listed = client.get("/aml/monitorings?alertStatus=ALERT", headers=auth()).json()
    assert [item["monitoringId"] for item in listed["items"]] == ["m-1"]
    page = client.get("/aml/monitorings?limit=1", headers=auth()).json()
    assert [item["monitoringId"] for item in page["items"]] == ["m-1"]
    rest = client.get(f"/aml/monitorings?limit=1&after={page['next']}", headers=auth()).json()
    assert ([item["monitoringId"] for item in rest["items"]], rest["next"]) == (["m-2"], None)
    verifications = client.get("/verifications", headers=auth()).json()["items"]
    assert [item["scanRef"] for item in verifications] == ["kyc-1"]
    assert verifications[0]["amlMonitoring"]["alertStatus"] == "ALERT"


def test_a_monitorings_timeline_has_its_deliveries_payloads_and_a_valid_chain(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    first = deliver(client, monitoring_body("m-9", "NO_ALERT", "kyc-9"), "AML_MONITORING")
    second = deliver(client, monitoring_body("m-9", "ALERT", "kyc-9"), "AML_MONITORING")
    wait_for_views(services, second["position"])

    timeline = client.get("/aml/monitorings/m-9/timeline?payload=1", headers=auth("auditor"))
    backend = client.get("/aml/monitorings/m-9/timeline", headers=auth())

    assert timeline.status_code == 200, timeline.text
    assert backend.status_code == 403
    entries = timeline.json()["entries"]
    assert [(e["kind"], e["status"]) for e in entries] == [
        ("aml-monitoring", "NO_ALERT"),
        ("aml-monitoring", "ALERT"),
    ]
    assert '"scanRefList":["kyc-9"]' in entries[0]["payload"]
    assert timeline.json()["chain"]["valid"] is True
    assert first["position"] < second["position"]
    export = client.get("/audit/events", headers=auth("auditor")).text.replace(" ", "")
    assert export.count('"scanRef":"aml:m-9"') == 2


def test_company_webhooks_are_recorded_per_company_with_their_latest_status(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    submit = deliver(client, {"id": "co-1", "clientId": "client-1"}, "COMPANY_SUBMIT")
    info = {"companyId": "co-1", "token": "t", "status": "REQUESTED", "email": "a@example.com"}
    request = deliver(client, info, "COMPANY_INFO_REQUEST")
    review = deliver(client, {"companyId": "co-2", "companyName": "ACME"}, "COMPANY_REVIEW")
    nameless = deliver(client, {"expirationStatus": "EXPIRED"}, "COMPANY_EXPIRATION")
    again = deliver(client, info, "COMPANY_INFO_REQUEST")

    assert (submit["subject"], request["sequence"]) == ("company:co-1", 2)
    assert (again["result"], again["sequence"]) == ("duplicate", 2)
    assert nameless["subject"] == "company:_unidentified"
    wait_for_views(services, nameless["position"])
    company = client.get("/companies/co-1", headers=auth()).json()
    assert (company["status"], company["eventType"], company["events"]) == (
        "REQUESTED",
        "COMPANY_INFO_REQUEST",
        2,
    )
    assert company["clientId"] == "client-1"
    assert client.get("/companies/co-2", headers=auth()).json()["status"] == "REVIEW"
    assert client.get("/companies/_unidentified", headers=auth()).json()["status"] == "EXPIRED"
    listed = client.get("/companies", headers=auth()).json()["items"]
    assert [item["companyId"] for item in listed] == ["_unidentified", "co-1", "co-2"]
    timeline = client.get("/companies/co-1/timeline", headers=auth("auditor")).json()
    assert [(e["kind"], e["status"]) for e in timeline["entries"]] == [
        ("company", "SUBMIT"),
        ("company", "REQUESTED"),
    ]
    assert timeline["chain"]["valid"] is True
    assert review["position"] < nameless["position"]
    assert services.quarantine.count() == 0


def test_subjects_are_not_verifications_and_unknown_ones_are_404(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    answer = deliver(client, monitoring_body("m-5", "ALERT"), "AML_MONITORING")
    wait_for_views(services, answer["position"])

    for path in (
        "/verifications/aml:m-5",
        "/verifications/aml:m-5?minPosition=1",
        "/aml/monitorings/m-6",
        "/aml/monitorings/a:b",
        "/companies/nobody",
    ):
        assert client.get(path, headers=auth()).status_code == 404, path
    assert client.get("/verifications/aml:m-5/timeline", headers=auth("auditor")).status_code == 404
    assert client.get("/aml/monitorings/m-5", headers=auth(None)).status_code == 401
    assert client.get("/verifications", headers=auth()).json()["items"] == []


def test_a_replay_rebuilds_the_subjects_and_links_as_live(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    result = encode(result_body("kyc-7", final=True, overall="DENIED"))
    headers = signed_headers(result, SIGNING_KEYS[0])
    assert client.post("/webhooks/idenfy/auto-finished", content=result, headers=headers).is_success
    deliver(client, monitoring_body("m-7", "ALERT", "kyc-7", "kyc-8"), "AML_MONITORING")
    last = deliver(client, {"companyId": "co-7", "status": "REQUESTED"}, "COMPANY_INFO_REQUEST")
    wait_for_views(services, last["position"])
    paths = ["/verifications/kyc-7", "/aml/monitorings/m-7", "/companies/co-7", "/companies"]
    live = [client.get(path, headers=auth()).json() for path in paths]

    replay(services.ledger, services.views.sql, drop_grace=0)

    assert [client.get(path, headers=auth()).json() for path in paths] == live
    assert live[0]["amlMonitoring"]["monitoringId"] == "m-7"


def send_planned(client: TestClient, scenario: str, count: int) -> list[dict[str, Any]]:
    """Every delivery ``ledger simulate --scenario`` would send, as it would send it."""
    answers = []
    for delivery in plan(scenario, count, seed=11):
        path = f"/webhooks/idenfy/{delivery.kind}" if delivery.by_path else "/webhooks/idenfy"
        event_type = None if delivery.by_path else delivery.header or HEADER_OF_KIND[delivery.kind]
        headers = signed_headers(delivery.body, SIGNING_KEYS[0], event_type)
        answer = client.post(path, content=delivery.body, headers=headers)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    return answers


def test_the_simulators_aml_scenario_is_recorded_with_open_alerts(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    answers = send_planned(client, "aml", 12)

    assert services.quarantine.count() == 0
    wait_for_views(services, max(answer.get("position", 0) for answer in answers))
    monitorings = client.get("/aml/monitorings?limit=500", headers=auth()).json()["items"]
    assert len(monitorings) == 12
    assert {m["alertStatus"] for m in monitorings} <= {"ALERT", "NO_ALERT"}
    for monitoring in monitorings:
        [scan_ref] = monitoring["scanRefs"]
        status = client.get(f"/verifications/{scan_ref}", headers=auth()).json()
        assert status["amlMonitoring"]["monitoringId"] == monitoring["monitoringId"]


def test_the_simulators_kyb_scenario_is_recorded_per_company(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    answers = send_planned(client, "kyb", 5)

    assert services.quarantine.count() == 0
    wait_for_views(services, max(answer.get("position", 0) for answer in answers))
    companies = client.get("/companies?limit=500", headers=auth()).json()["items"]
    named = [c for c in companies if c["identified"]]
    assert len(named) == 5
    assert all(c["events"] == 3 for c in named)
    assert {c["status"] for c in named} <= {"COMPLETED", "NEED_TO_REVIEW"}
    [unidentified] = [c for c in companies if not c["identified"]]
    assert (unidentified["companyId"], unidentified["status"]) == ("_unidentified", "PENDING")


def test_verify_covers_monitorings_and_companies_and_finds_a_changed_alert(
    client: TestClient, services: Services, database_url: str
) -> None:
    deliver(client, monitoring_body("m-v", "NO_ALERT", "kyc-v"), "AML_MONITORING")
    deliver(client, {"companyId": "co-v", "status": "REQUESTED"}, "COMPANY_INFO_REQUEST")
    intact = verify_ledger(services.ledger, services.clock())
    assert intact.intact
    assert {"aml:m-v", "company:co-v"} <= set(intact.digest.heads)

    table = EventTable(database_url)
    table.write("aml:m-v", 1, {**table.state("aml:m-v", 1), "alert_status": "ALERT"})
    tampered = verify_ledger(services.ledger, services.clock())

    assert [(p.scan_ref, p.sequence) for p in tampered.problems] == [("aml:m-v", 1)]


def test_quarantined_monitoring_and_company_deliveries_are_moved_in_by_reprocessing(
    client: TestClient, services: Services
) -> None:
    """Before these products were modelled, their deliveries were kept in quarantine."""
    kept = []
    for body, event_type in (
        (monitoring_body("m-q", "ALERT", "kyc-q"), "AML_MONITORING"),
        ({"id": "co-q", "clientId": "client-q"}, "COMPANY_SUBMIT"),
    ):
        raw = encode(body)
        kept_id = services.quarantine.put(
            QuarantinedDelivery(
                received_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
                cause=f"Idenfy-Event-Type {event_type!r} is not an event the ledger models",
                payload=raw,
                payload_sha256=hashlib.sha256(raw).hexdigest(),
                signing_key=f"#1:{fingerprint(SIGNING_KEYS[0])}",
                path_kind=None,
                event_type=event_type,
            )
        )
        entry = services.quarantine.get(kept_id)
        assert entry is not None
        kept.append(entry)

    answers = [reprocess(services, entry) for entry in kept]

    assert [(a.status, a.body["subject"]) for a in answers] == [
        (200, "aml:m-q"),
        (200, "company:co-q"),
    ]
