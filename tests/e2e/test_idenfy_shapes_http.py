"""Deliveries as iDenfy really sends them, through the webhook endpoint (both stores)."""

from __future__ import annotations

from starlette.testclient import TestClient

from app.cli.scenarios import HEADER_OF_KIND, plan
from app.service.services import Services
from projections.rules import evaluate
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.scenario import ledger_facts
from tests.support.settings import SIGNING_KEYS


def test_the_dashboards_event_names_are_understood(client: TestClient, services: Services) -> None:
    raw = encode(result_body("dashboard-1", final=False, overall="REVIEWING"))
    headers = signed_headers(raw, SIGNING_KEYS[0], "ID VERIFICATION AUTO FINISH")

    answer = client.post("/webhooks/idenfy", content=raw, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "recorded"
    [fact] = ledger_facts(services.ledger)["dashboard-1"]
    assert fact.kind == "auto-finished"
    assert services.quarantine.count() == 0


def test_a_document_expiration_without_an_iso_date_is_quarantined_with_its_cause(
    client: TestClient, services: Services
) -> None:
    raw = encode({"scanRef": "expiring-1", "documentExpiration": "next spring"})
    headers = signed_headers(raw, SIGNING_KEYS[0], "DOCUMENT_EXPIRATION")

    answer = client.post("/webhooks/idenfy", content=raw, headers=headers)

    assert answer.status_code == 202, answer.text
    [kept] = services.quarantine.entries(10)
    assert "documentExpiration" in kept.cause
    assert "ISO 8601" in kept.cause


def test_decimal_finish_times_place_results_in_their_attempts(
    client: TestClient, services: Services
) -> None:
    """A preliminary and a final legacy result at 1554727002.254685 (iDenfy's 2019 shape)
    are recorded, and are one attempt decided manually (rule 2's preliminary twin)."""
    first = 1554727002.254685
    for final, overall, finish in ((False, "REVIEWING", first), (None, "APPROVED", first)):
        body = result_body("decimal-1", final=final, overall=overall) | {"finishTime": finish}
        raw = encode(body)
        assert b"1554727002.254685" in raw
        answer = client.post(
            "/webhooks/idenfy/identification",
            content=raw,
            headers=signed_headers(raw, SIGNING_KEYS[0]),
        )
        assert answer.status_code == 200, answer.text

    facts = ledger_facts(services.ledger)["decimal-1"]
    assert [fact.finish_time for fact in facts] == [first, first]
    document = evaluate("decimal-1", facts).document
    assert (document["status"], document["decidedBy"], document["attempts"]) == (
        "APPROVED",
        "manual",
        1,
    )


def test_the_simulators_real_shapes_are_all_recorded(
    client: TestClient, services: Services
) -> None:
    """``ledger simulate --scenario real-shapes``: 2019 legacy results (no ``final``, a
    decimal ``finishTime``, the reviewer's verdict) and the dashboard's event names."""
    planned = plan("real-shapes", 30, seed=7)
    assert any(p.header and " " in p.header for p in planned)
    assert any(b'"finishTime": 17' in p.body and b"." in p.body.split(b'"finishTime": ')[1][:20]
               for p in planned)  # fmt: skip

    for delivery in planned:
        path = f"/webhooks/idenfy/{delivery.kind}" if delivery.by_path else "/webhooks/idenfy"
        event_type = None if delivery.by_path else delivery.header or HEADER_OF_KIND[delivery.kind]
        headers = signed_headers(delivery.body, SIGNING_KEYS[0], event_type)
        answer = client.post(path, content=delivery.body, headers=headers)
        assert answer.status_code == 200, answer.text

    assert services.quarantine.count() == 0
    legacy = {p.scan_ref for p in planned if p.kind == "identification"}
    assert legacy
    for scan_ref in legacy:
        document = evaluate(scan_ref, ledger_facts(services.ledger)[scan_ref]).document
        assert (document["status"], document["decidedBy"]) == ("APPROVED", "manual")
