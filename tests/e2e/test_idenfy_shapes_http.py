"""Deliveries as iDenfy really sends them, through the webhook endpoint (both stores)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from starlette.testclient import TestClient

from adapters.quarantine import QuarantinedDelivery
from adapters.signing import fingerprint
from app.cli.scenarios import HEADER_OF_KIND, plan
from app.service.replay import replay
from app.service.reprocess import reprocess
from app.service.services import Services
from projections.rules import evaluate
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.scenario import ledger_facts
from tests.support.settings import SIGNING_KEYS
from tests.support.webhooks import auth, wait_for_views


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


def test_a_delivery_of_an_unmodelled_type_is_in_the_history_chain_and_export_not_the_status(
    client: TestClient, services: Services
) -> None:
    """An authentic delivery of a type the ledger does not model, naming a verification, is
    recorded as an ``other`` event (200): in the timeline, the chain and the export, with the
    type as sent, and the status stays what the results say."""
    services.start_projections()
    result = encode(result_body("other-1", final=True, overall="APPROVED"))
    assert (
        client.post(
            "/webhooks/idenfy/auto-finished",
            content=result,
            headers=signed_headers(result, SIGNING_KEYS[0]),
        ).status_code
        == 200
    )
    call = encode({"scanRef": "other-1", "clientId": "user-7f3c2a", "status": "VIDEO_CALL_DONE"})
    answer = client.post(
        "/webhooks/idenfy",
        content=call,
        headers=signed_headers(call, SIGNING_KEYS[0], "VIDEO_CALL_FINISHED"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sequence"] == 2
    wait_for_views(services, answer.json()["position"])

    status = client.get("/verifications/other-1", headers=auth()).json()
    assert (status["status"], status["events"], status["attempts"]) == ("APPROVED", 2, 1)
    timeline = client.get("/verifications/other-1/timeline?payload=1", headers=auth("auditor"))
    entries = timeline.json()["entries"]
    assert [entry["kind"] for entry in entries] == ["auto-finished", "other"]
    assert entries[1]["payload"] == call.decode()
    assert timeline.json()["chain"]["valid"] is True
    export = client.get("/audit/events", headers=auth("auditor")).text
    assert '"kind":"other"' in export.replace(" ", "")


def test_a_quarantined_delivery_of_an_unmodelled_type_is_moved_in_by_reprocessing(
    client: TestClient, services: Services
) -> None:
    """Deliveries kept in quarantine before ``other`` events existed are recorded by
    ``ledger quarantine reprocess``; a replay then builds the same views as the live ones."""
    services.start_projections()
    call = encode({"scanRef": "moved-1", "clientId": "user-7f3c2a", "status": "DONE"})
    kept_id = services.quarantine.put(
        QuarantinedDelivery(
            received_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
            cause="Idenfy-Event-Type 'VIDEO_CALL_FINISHED' is not an event the ledger models",
            payload=call,
            payload_sha256=hashlib.sha256(call).hexdigest(),
            signing_key=f"#1:{fingerprint(SIGNING_KEYS[0])}",
            path_kind=None,
            event_type="VIDEO_CALL_FINISHED",
        )
    )
    kept = services.quarantine.get(kept_id)
    assert kept is not None

    answer = reprocess(services, kept)

    assert (answer.status, answer.body["result"], answer.body["scanRef"]) == (
        200,
        "recorded",
        "moved-1",
    )
    wait_for_views(services, answer.body["position"])
    live = client.get("/verifications/moved-1/timeline", headers=auth("auditor")).json()["entries"]
    assert [entry["kind"] for entry in live] == ["other"]
    replay(services.ledger, services.views.sql, drop_grace=0)
    rebuilt = client.get("/verifications/moved-1/timeline", headers=auth("auditor")).json()
    assert rebuilt["entries"] == live
