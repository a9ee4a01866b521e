"""Erasure that keeps the proof: one client's personal data, in recorded deliveries, a
redelivery and a quarantined copy, readable through the API and absent from the raw
stored bytes; after its erasure readable nowhere, while another client's payloads still
read, ``ledger verify`` passes and every earlier event's hash is unchanged."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.service.audit import verify_ledger
from app.service.erasure import (
    ErasureRefusedError,
    UnknownClientError,
    due_for_erasure,
    erase,
    retention_of,
)
from app.service.ledger import Ledger
from app.service.services import Services
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS
from tests.support.stored_bytes import stored_bytes

ERASED_CLIENT, KEPT_CLIENT = "client-to-erase-71", "client-to-keep-72"
CANARY = {"docFirstName": "KANARIJAALFA", "docLastName": "ZVIRBLISALFA", "docNumber": "CAN0000071"}
KEPT = {"docFirstName": "KANARIJABETA", "docLastName": "ZVIRBLISBETA", "docNumber": "CAN0000072"}
FIRST, SECOND, OTHER = "erase-me-5a7d-0001", "erase-me-5a7d-0002", "keep-me-5a7d-0003"
AUDITOR = {"Authorization": f"Bearer {API_TOKENS['auditor']}"}
CATCH_UP_SECONDS = 30.0


def post(client: TestClient, kind: str, body: dict[str, Any]) -> int:
    raw = encode(body)
    headers = signed_headers(raw, SIGNING_KEYS[0])
    return client.post(f"/webhooks/idenfy/{kind}", content=raw, headers=headers).status_code


def record_both_clients(client: TestClient, services: Services) -> None:
    person: dict[str, Any] = {"data": CANARY, "client_id": ERASED_CLIENT}
    assert post(client, "auto-finished", result_body(FIRST, final=False, **person)) == 200
    assert post(client, "manual-finished", result_body(FIRST, **person)) == 200
    assert post(client, "manual-finished", result_body(FIRST, **person)) == 200  # redelivery
    assert post(client, "auto-finished", result_body(SECOND, **person)) == 200
    unusable = encode(result_body(SECOND, **person)).replace(b'"final":true', b'"final":"x"')
    answer = client.post(
        "/webhooks/idenfy/auto-finished",
        content=unusable,
        headers=signed_headers(unusable, SIGNING_KEYS[0]),
    )
    assert answer.status_code == 202  # kept in quarantine
    assert (
        post(client, "auto-finished", result_body(OTHER, data=KEPT, client_id=KEPT_CLIENT)) == 200
    )
    caught_up(services)


def caught_up(services: Services) -> None:
    head = services.ledger.recorder.max_notification_id() or 0
    for view in services.views.all():
        view.wait(Ledger.name, head, timeout=CATCH_UP_SECONDS)


def timeline_text(client: TestClient, scan_ref: str) -> tuple[str, list[dict[str, Any]]]:
    response = client.get(f"/verifications/{scan_ref}/timeline?payload=1", headers=AUDITOR)
    assert response.status_code == 200, response.text
    return response.text, response.json()["entries"]


def hashes(services: Services) -> dict[str, list[str]]:
    return {ref: [e.hash for e in services.ledger.history(ref)] for ref in (FIRST, SECOND, OTHER)}


def quarantined_payloads(services: Services) -> list[bytes | None]:
    return [entry.payload for entry in services.quarantine.entries(100)]


def canary_words(raw: bytes, person: dict[str, str]) -> list[str]:
    return [word for word in person.values() if word.encode() in raw]


def client_keys(services: Services, client_id: str) -> list[bytes]:
    with services.ledger.keys.sql.reading() as c:
        rows = c.execute(
            f"SELECT wrapped FROM {services.ledger.keys.table} WHERE client_id = ?"
            " AND wrapped IS NOT NULL",
            (client_id,),
        ).fetchall()
    return [bytes(row["wrapped"]) for row in rows]


@pytest.fixture
def recorded(client: TestClient, services: Services) -> TestClient:
    services.start_projections()
    record_both_clients(client, services)
    return client


def test_personal_data_reads_through_the_api_but_never_lies_in_the_stored_bytes(
    recorded: TestClient, services: Services
) -> None:
    text, _ = timeline_text(recorded, FIRST)
    assert canary_words(text.encode(), CANARY) == list(CANARY.values())
    assert any(
        p is not None and CANARY["docNumber"].encode() in p for p in quarantined_payloads(services)
    )
    for name, raw in stored_bytes(services.settings.database_url).items():
        assert canary_words(raw, CANARY) == [], name
        assert canary_words(raw, KEPT) == [], name


def test_erasure_is_refused_before_retention_ends_and_under_a_hold(
    recorded: TestClient, services: Services
) -> None:
    with pytest.raises(ErasureRefusedError, match="retained until"):
        erase(services, ERASED_CLIENT, "asked by the client", "dpo")
    hold = services.retention.place_hold(ERASED_CLIENT, "court order 17", "admin", services.clock())
    with pytest.raises(ErasureRefusedError, match="legal hold"):
        erase(services, ERASED_CLIENT, "asked by the client", "dpo", override_retention=True)
    later = services.clock() + timedelta(days=services.settings.retention_days + 1)
    future = replace(services, clock=lambda: later)
    assert [r.client_id for r in due_for_erasure(future)] == [KEPT_CLIENT]
    assert services.retention.lift_hold(ERASED_CLIENT, hold.id, "admin", later)
    assert sorted(r.client_id for r in due_for_erasure(future)) == [ERASED_CLIENT, KEPT_CLIENT]
    assert erase(future, ERASED_CLIENT, "retention ended", "dpo").keys_destroyed
    with pytest.raises(UnknownClientError):
        retention_of(services, "nobody-ever")


def test_after_erasure_the_client_reads_nowhere_and_every_proof_still_holds(
    recorded: TestClient, services: Services
) -> None:
    before = hashes(services)
    ended = retention_of(services, ERASED_CLIENT).relationship_ended_at
    keys = client_keys(services, ERASED_CLIENT)
    assert keys

    done = erase(services, ERASED_CLIENT, "asked by the client", "dpo", override_retention=True)
    caught_up(services)

    assert (done.payloads_unreadable, done.quarantined_unreadable) == (3, 1)
    for scan_ref in (FIRST, SECOND):
        text, entries = timeline_text(recorded, scan_ref)
        assert canary_words(text.encode(), CANARY) == []
        deliveries = [e for e in entries if e["kind"] != "erased"]
        assert all(e["payload"] is None and e["payloadErased"] is True for e in deliveries)
        [erased] = [e for e in entries if e["kind"] == "erased"]
        assert (erased["erasedBy"], erased["reason"]) == ("dpo", "asked by the client")
    text, _ = timeline_text(recorded, OTHER)
    assert canary_words(text.encode(), KEPT) == list(KEPT.values())
    assert all(
        p is None or CANARY["docNumber"].encode() not in p for p in quarantined_payloads(services)
    )
    after = hashes(services)
    assert {ref: after[ref][: len(before[ref])] for ref in before} == before
    assert verify_ledger(services.ledger, services.clock()).intact
    retention = retention_of(services, ERASED_CLIENT).document()
    assert retention["erasedAt"] == done.erased_at
    assert retention["relationshipEndedAt"] == ended  # the erasure is no news of the client
    for name, raw in stored_bytes(services.settings.database_url).items():
        assert canary_words(raw, CANARY) == [], name
        assert [key for key in keys if key in raw] == [], name


def test_erasing_again_completes_nothing_twice(recorded: TestClient, services: Services) -> None:
    erase(services, ERASED_CLIENT, "asked by the client", "dpo", override_retention=True)
    again = erase(services, ERASED_CLIENT, "asked again", "dpo")

    assert again.already_erased
    assert (again.keys_destroyed, again.events_appended) == ([], 0)
    assert [type(e).__name__ for e in services.ledger.history(FIRST)].count("Erased") == 1


def test_a_delivery_after_its_clients_keys_were_erased_elsewhere_is_sealed_under_a_new_key(
    client: TestClient, services: Services
) -> None:
    person: dict[str, Any] = {"data": CANARY, "client_id": ERASED_CLIENT}
    assert post(client, "auto-finished", result_body(FIRST, **person)) == 200  # key remembered
    services.retention.destroy_client_keys(ERASED_CLIENT, services.clock(), "dpo", "elsewhere")

    assert post(client, "auto-finished", result_body(SECOND, **person)) == 200

    first, second = (services.ledger.history(ref)[0] for ref in (FIRST, SECOND))
    assert getattr(first, "payload", b"") is None
    assert CANARY["docNumber"].encode() in getattr(second, "payload", b"")


def test_a_client_id_with_a_percent_sign_is_erased_like_any_other(
    client: TestClient, services: Services
) -> None:
    person: dict[str, Any] = {"data": CANARY, "client_id": "50%-off-client"}
    assert post(client, "auto-finished", result_body(FIRST, **person)) == 200

    destroyed = services.retention.destroy_client_keys(
        "50%-off-client", services.clock(), "dpo", "asked by the client"
    )

    assert destroyed
    assert getattr(services.ledger.history(FIRST)[0], "payload", b"") is None
