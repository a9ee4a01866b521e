"""A client's retention and legal holds over HTTP, against each store: ending the
relationship, reading the retention document, placing and lifting holds, who may do
which, the access log, and erasure refused under a hold and done once it is lifted."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from adapters.signing import fingerprint
from app.service.erasure import ErasureRefusedError, erase
from app.service.services import Services
from tests.support.idenfy import encode
from tests.support.settings import API_TOKENS
from tests.support.webhooks import auth, deliver_result, wait_for_views

CLIENT = "client-4d1e9a"
OTHER_CLIENT = "client-7b20c3"
ERASED_REFS = ("rt-3f2b8c1e-0001", "rt-3f2b8c1e-0002")
KEPT_REF = "rt-3f2b8c1e-0003"
ADMIN_ID = f"admin:{fingerprint(API_TOKENS['admin'])}"
UNKNOWN_HOLD = "0" * 32
REASON = "litigation hold, case 2026-114"


@pytest.fixture
def recorded(services: Services, client: TestClient) -> int:
    """Two verifications of CLIENT and one of OTHER_CLIENT, projected; the position."""
    services.start_projections()
    for scan_ref in ERASED_REFS:
        deliver_result(client, scan_ref, client_id=CLIENT, final=False, overall="SUSPECTED")
        deliver_result(client, scan_ref, client_id=CLIENT)
    position = deliver_result(client, KEPT_REF, client_id=OTHER_CLIENT)
    wait_for_views(services, position)
    return position


def retention(client: TestClient, client_id: str = CLIENT, role: str = "auditor") -> httpx.Response:
    return client.get(f"/clients/{client_id}/retention", headers=auth(role))


def place(client: TestClient, reason: object = REASON, role: str = "admin") -> httpx.Response:
    return client.post(f"/clients/{CLIENT}/holds", json={"reason": reason}, headers=auth(role))


def lift(client: TestClient, hold_id: str, client_id: str = CLIENT) -> httpx.Response:
    return client.delete(f"/clients/{client_id}/holds/{hold_id}", headers=auth("admin"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The round trip


def test_the_retention_document_counts_from_the_clients_last_event(
    client: TestClient, services: Services, recorded: int
) -> None:
    response = retention(client)

    assert response.status_code == 200, response.text
    document = response.json()
    last = max(
        client.get(f"/verifications/{ref}", headers=auth()).json()["lastEventAt"]
        for ref in ERASED_REFS
    )
    assert at(document["relationshipEndedAt"]) == at(last)
    days = timedelta(days=services.settings.retention_days)
    assert at(document["retainUntil"]) == at(last) + days
    assert document["holds"] == []
    assert document["erasedAt"] is None
    assert document["clientId"] == CLIENT
    assert document["verifications"] == len(ERASED_REFS)


def test_ending_the_relationship_starts_the_clock_now_and_only_once(
    client: TestClient, services: Services, recorded: int
) -> None:
    before = services.clock()

    first = client.post(f"/clients/{CLIENT}/end", headers=auth("admin"))
    again = client.post(f"/clients/{CLIENT}/end", headers=auth("admin"))

    assert first.status_code == 200, first.text
    ended = at(first.json()["relationshipEndedAt"])
    assert before <= ended <= services.clock()
    days = timedelta(days=services.settings.retention_days)
    assert at(first.json()["retainUntil"]) == ended + days
    assert again.status_code == 200
    assert again.json() == first.json() == retention(client).json()


def test_an_admin_places_and_lifts_a_legal_hold(
    client: TestClient, services: Services, recorded: int
) -> None:
    placed = place(client)

    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert set(hold) == {"id", "reason", "placedAt", "placedBy"}
    assert hold["reason"] == REASON
    assert hold["placedBy"] == ADMIN_ID
    assert API_TOKENS["admin"] not in placed.text
    assert at(hold["placedAt"]) <= services.clock()
    assert retention(client).json()["holds"] == [hold]
    assert retention(client, OTHER_CLIENT).json()["holds"] == []

    lifted = lift(client, hold["id"])

    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["holds"] == []
    assert lifted.json() == retention(client).json()
    again = lift(client, hold["id"])
    assert again.status_code == 404
    assert "no hold" in again.json()["error"]


def test_holds_are_kept_apart_and_lifted_one_by_one(client: TestClient, recorded: int) -> None:
    first, second = place(client, "first").json(), place(client, "second").json()

    assert lift(client, first["id"], OTHER_CLIENT).status_code == 404
    assert lift(client, first["id"]).status_code == 200

    assert retention(client).json()["holds"] == [second]


# Erasure under a hold, and once it is lifted


def test_erasure_is_refused_under_a_hold_and_done_once_it_is_lifted(
    client: TestClient, services: Services, recorded: int
) -> None:
    hold = place(client).json()

    with pytest.raises(ErasureRefusedError, match="legal hold"):
        erase(services, CLIENT, "why", "admin", override_retention=True)
    assert lift(client, hold["id"]).status_code == 200
    done = erase(services, CLIENT, "why", "admin", override_retention=True)

    assert sorted(done.verifications) == sorted(ERASED_REFS)
    head = services.ledger.recorder.max_notification_id() or 0
    for scan_ref in ERASED_REFS:
        entries = timeline_entries(client, scan_ref, head)
        deliveries = [e for e in entries if e["kind"] not in ("erased", "registered")]
        assert len(deliveries) == 2
        assert all(e["payload"] is None and e["payloadErased"] for e in deliveries)
        assert all(e["payloadSha256"] for e in deliveries)  # the digests are kept
        [erased] = [e for e in entries if e["kind"] == "erased"]
        assert (erased["erasedBy"], erased["reason"]) == ("admin", "why")
    kept = timeline_entries(client, KEPT_REF, head)
    assert all(e["payload"] and "payloadErased" not in e for e in kept)
    document = retention(client).json()
    assert document["erasedAt"] is not None
    assert (document["erasedBy"], document["erasureReason"]) == ("admin", "why")
    assert retention(client, OTHER_CLIENT).json()["erasedAt"] is None


def timeline_entries(client: TestClient, scan_ref: str, position: int) -> list[dict[str, object]]:
    response = client.get(
        f"/verifications/{scan_ref}/timeline",
        params={"payload": "1", "minPosition": str(position)},
        headers=auth("auditor"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["chain"]["valid"] is True
    entries: list[dict[str, object]] = response.json()["entries"]
    return entries


# Who may do what


def calls(hold_id: str) -> list[tuple[str, str, bytes | None]]:
    body = encode({"reason": REASON})
    return [
        ("GET", f"/clients/{CLIENT}/retention", None),
        ("POST", f"/clients/{CLIENT}/end", None),
        ("POST", f"/clients/{CLIENT}/holds", body),
        ("DELETE", f"/clients/{CLIENT}/holds/{hold_id}", None),
    ]


@pytest.mark.parametrize("index", range(4), ids=["retention", "end", "hold", "lift"])
def test_every_route_refuses_backend_unknown_and_missing_tokens(
    client: TestClient, recorded: int, index: int
) -> None:
    method, path, body = calls(place(client).json()["id"])[index]
    refusals: list[tuple[dict[str, str], int]] = [
        (auth("backend"), 403),
        ({"Authorization": "Bearer not-a-configured-token"}, 401),
        ({}, 401),
    ]
    if method != "GET":
        refusals.append((auth("auditor"), 403))

    for headers, status in refusals:
        response = client.request(method, path, content=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert response.json()["error"]
    allowed = client.request(method, path, content=body, headers=auth("admin"))
    assert allowed.status_code in (200, 201), allowed.text


def test_every_call_is_in_the_access_log_by_key_id(
    client: TestClient, services: Services, recorded: int
) -> None:
    hold_id = place(client).json()["id"]
    retention(client, role="admin")
    retention(client, role="auditor")
    client.post(f"/clients/{CLIENT}/end", headers=auth("admin"))
    lift(client, hold_id)
    retention(client, role="backend")  # refused: not a read of the retention

    entries = services.access_log.entries(5)

    assert [(e["keyId"].partition(":")[0], e["role"], e["what"]) for e in entries] == [
        ("admin", "admin", f"DELETE /clients/{CLIENT}/holds/{hold_id}"),
        ("admin", "admin", f"POST /clients/{CLIENT}/end"),
        ("auditor", "auditor", f"GET /clients/{CLIENT}/retention"),
        ("admin", "admin", f"GET /clients/{CLIENT}/retention"),
        ("admin", "admin", f"POST /clients/{CLIENT}/holds"),
    ]
    assert entries[0]["keyId"] == ADMIN_ID


# What is not there, and what is not a hold


@pytest.mark.parametrize("client_id", ["client-never-seen", "client%00nul"])
def test_nothing_recorded_about_a_client_is_404_on_every_route(
    client: TestClient, services: Services, recorded: int, client_id: str
) -> None:
    body = encode({"reason": REASON})
    for method, path, content in [
        ("GET", f"/clients/{client_id}/retention", None),
        ("POST", f"/clients/{client_id}/end", None),
        ("POST", f"/clients/{client_id}/holds", body),
        ("DELETE", f"/clients/{client_id}/holds/{UNKNOWN_HOLD}", None),
    ]:
        response = client.request(method, path, content=content, headers=auth("admin"))
        assert response.status_code == 404, (method, path, response.text)
        assert "nothing is recorded about client" in response.json()["error"]
    assert services.retention.holds(client_id.replace("%00", "\x00")) == []


@pytest.mark.parametrize("hold_id", [UNKNOWN_HOLD, "not-a-hold", "%00"])
def test_lifting_a_hold_the_client_does_not_have_is_404(
    client: TestClient, recorded: int, hold_id: str
) -> None:
    response = lift(client, hold_id)

    assert response.status_code == 404, response.text
    assert response.json()["error"].startswith(f"client {CLIENT!r} has no hold")


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"reason": ""}',
        b'{"reason": "  \\n "}',
        b'{"reason": 5}',
        b'{"reason": null}',
        b'{"reason": ["why"]}',
        b'{"reason": "why", "by": "someone else"}',
        b'{"reason": "a\\u0000b"}',
        encode({"reason": "x" * 501}),
        b"[]",
        b"",
        b"not json",
        b'{"reason": "why"',
        b"\xff\xfe",
    ],
)
def test_a_hold_without_a_usable_reason_is_422(
    client: TestClient, services: Services, recorded: int, body: bytes
) -> None:
    response = client.post(f"/clients/{CLIENT}/holds", content=body, headers=auth("admin"))

    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("invalid hold")
    assert services.retention.holds(CLIENT) == []


def test_a_reason_of_500_characters_is_kept_whole(client: TestClient, recorded: int) -> None:
    reason = "é" * 500

    placed = place(client, reason)

    assert placed.status_code == 201, placed.text
    assert retention(client).json()["holds"][0]["reason"] == reason


def test_a_hold_body_over_the_limit_is_413(client: TestClient, recorded: int) -> None:
    body = encode({"reason": "x" * (16 * 1024)})

    response = client.post(f"/clients/{CLIENT}/holds", content=body, headers=auth("admin"))

    assert response.status_code == 413, response.text
    assert response.json()["error"]
