"""The auditor API over HTTP: timelines with chain checks, exports, the digest, the access log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta

import anyio
import httpx2 as httpx
import pytest
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.testclient import TestClient

from adapters.export import COLUMNS
from adapters.signing import fingerprint
from app.http import auditor
from app.server import create_app
from app.service.audit import verify_ledger
from app.service.services import Services
from domain.reports import Delivery, Kind, Outcome, Registration
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS
from tests.support.tampering import (
    CANCELLED,
    FIRST_DELIVERY_AT,
    INSIDE_A_CHAIN,
    LEGACY,
    MANUAL,
    SIGNING_KEY_ID,
    STORY,
    EventTable,
    Tampering,
    last_position,
    record,
)

AUDITOR = {"Authorization": f"Bearer {API_TOKENS['auditor']}"}
ADMIN = {"Authorization": f"Bearer {API_TOKENS['admin']}"}
BACKEND = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
AUDITOR_ROUTES = (
    f"/verifications/{MANUAL}/timeline",
    "/audit/events",
    "/audit/digest",
    "/audit/access",
)
ISO_UTC = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")
LARGE_LEDGER_VERIFICATIONS = 1_100  # five events each: more than one export batch


def recorded(services: Services) -> int:
    """The STORY recorded, projections running; the position to wait for."""
    receipts = record(services.ledger)
    services.start_projections()
    position = receipts[-1].position
    assert position is not None
    return position


def timeline(client: TestClient, scan_ref: str, position: int, **params: str) -> httpx.Response:
    return client.get(
        f"/verifications/{scan_ref}/timeline",
        params={"minPosition": str(position), **params},
        headers=AUDITOR,
    )


def export(client: TestClient, **params: str) -> httpx.Response:
    return client.get("/audit/events", params=params, headers=AUDITOR)


def positions(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [json.loads(line)["position"] for line in response.text.splitlines()]


def all_positions(services: Services) -> list[int]:
    return [n.id for n in services.ledger.recorder.select_notifications(start=1, limit=100_000)]


# Timelines


def test_a_timeline_has_a_valid_chain_whose_head_is_its_last_entrys_hash(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    registration = {"scanRef": MANUAL, "clientId": "user-7f3c2a"}
    assert client.post("/verifications", json=registration, headers=BACKEND).status_code == 201
    preliminary = encode(result_body(MANUAL, final=False, overall="SUSPECTED"))
    final = encode(result_body(MANUAL, final=True, overall="APPROVED"))
    client.post(
        "/webhooks/idenfy/auto-finished",
        content=preliminary,
        headers=signed_headers(preliminary, SIGNING_KEYS[0]),
    )
    answer = client.post(
        "/webhooks/idenfy/manual-finished",
        content=final,
        headers=signed_headers(final, SIGNING_KEYS[1]),
    )

    response = timeline(client, MANUAL, answer.json()["position"])

    assert response.status_code == 200, response.text
    body = response.json()
    entries = body["entries"]
    assert body["scanRef"] == MANUAL
    assert [e["sequence"] for e in entries] == [1, 2, 3]
    assert [e["kind"] for e in entries] == ["registered", "auto-finished", "manual-finished"]
    assert entries[0]["prevHash"] is None
    assert [e["prevHash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert entries[2]["payloadSha256"] == hashlib.sha256(final).hexdigest()
    assert body["chain"] == {"valid": True, "head": entries[-1]["hash"]}
    stored = list(services.ledger.history(MANUAL))
    assert isinstance(stored[-1], Verification.Event)
    assert body["chain"]["head"] == stored[-1].hash


def test_payload_1_adds_each_entrys_original_payload_and_none_for_registrations(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    registration = {"scanRef": MANUAL, "clientId": "user-7f3c2a"}
    assert client.post("/verifications", json=registration, headers=BACKEND).status_code == 201
    # Not re-encoded: spacing, key order and non-ASCII text come back as they were sent.
    raw = json.dumps(
        {**result_body(MANUAL), "data": {"docFirstName": "JONAS", "docLastName": "ŠIMKUS"}},
        indent=1,
        ensure_ascii=False,
    ).encode()
    answer = client.post(
        "/webhooks/idenfy", content=raw, headers=signed_headers(raw, SIGNING_KEYS[0])
    )
    position = answer.json()["position"]

    with_payloads = timeline(client, MANUAL, position, payload="1").json()["entries"]
    without = timeline(client, MANUAL, position).json()["entries"]

    assert [e["payload"] for e in with_payloads] == [None, raw.decode()]
    assert all("payload" not in e for e in without)
    assert [{k: v for k, v in e.items() if k != "payload"} for e in with_payloads] == without


def test_a_timeline_of_an_unknown_verification_is_not_found(client: TestClient) -> None:
    response = client.get("/verifications/never-heard-of/timeline", headers=AUDITOR)

    assert response.status_code == 404
    assert response.json()["error"]


DETECTED_BY_ITS_OWN_CHAIN = [
    t for t in INSIDE_A_CHAIN if t.name not in ("swapped-positions", "moved")
]  # a verification's history is read in sequence order, whatever the ledger positions


@pytest.mark.parametrize("tampering", DETECTED_BY_ITS_OWN_CHAIN, ids=str)
def test_a_timeline_shows_a_broken_chain_after_one_stored_event_is_edited(
    client: TestClient, services: Services, database_url: str, tampering: Tampering
) -> None:
    position = recorded(services)
    assert timeline(client, MANUAL, position).json()["chain"]["valid"] is True

    tampering.edit(EventTable(database_url), services.ledger)
    tampered = timeline(client, MANUAL, position)
    untouched = timeline(client, LEGACY, position)

    assert tampered.status_code == 200, tampered.text
    assert tampered.json()["chain"]["valid"] is False
    assert untouched.json()["chain"]["valid"] is True


def test_an_event_moved_into_another_verification_breaks_that_verifications_chain(
    client: TestClient, services: Services, database_url: str
) -> None:
    position = recorded(services)

    EventTable(database_url).move(MANUAL, 4, CANCELLED, 3)

    assert timeline(client, CANCELLED, position).json()["chain"]["valid"] is False


# Exports


def test_the_export_is_every_event_as_ndjson_in_ledger_order(
    client: TestClient, services: Services
) -> None:
    record(services.ledger)

    response = export(client)

    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert positions(response) == list(range(1, 11))
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert set(lines[0]) == set(COLUMNS)
    assert [(r["scanRef"], r["sequence"]) for r in lines[:3]] == [
        (MANUAL, 1), (STORY[1].scan_ref, 1), (MANUAL, 2),
    ]  # fmt: skip


def test_the_export_as_csv_has_the_documented_header_and_the_same_rows(
    client: TestClient, services: Services
) -> None:
    record(services.ledger)

    as_csv = export(client, format="csv")
    as_ndjson = [json.loads(line) for line in export(client).text.splitlines()]

    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    header, *table = list(csv.reader(io.StringIO(as_csv.text)))
    assert tuple(header) == COLUMNS
    assert [(int(r[0]), r[1], int(r[2]), r[-1]) for r in table] == [
        (r["position"], r["scanRef"], r["sequence"], r["hash"]) for r in as_ndjson
    ]


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [("3", "7", [3, 4, 5, 6, 7]), ("8", "", [8, 9, 10]), ("", "2", [1, 2]), ("11", "", [])],
)
def test_the_export_takes_a_window_of_ledger_positions(
    client: TestClient, services: Services, since: str, until: str, expected: list[int]
) -> None:
    record(services.ledger)

    assert positions(export(client, since=since, until=until)) == expected


def test_the_export_takes_a_window_of_received_times(
    client: TestClient, services: Services
) -> None:
    record(services.ledger)
    since = (FIRST_DELIVERY_AT + timedelta(hours=2)).isoformat()
    until = (FIRST_DELIVERY_AT + timedelta(hours=5)).isoformat().replace("+00:00", "Z")

    within = export(client, since=since, until=until)
    after = export(client, since=until)

    assert positions(within) == [3, 5, 6]
    # Registrations (1 and 4) are received when the backend sends them: now.
    assert positions(after) == [1, 4, 6, 7, 8, 9, 10]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2024-06-19T10:00:00"},
        {"since": "-1"},
        {"until": "3.5"},
        {"format": "xml"},
        {"format": "NDJSON"},
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_a_bad_window_or_format_is_refused_with_422(
    client: TestClient, params: dict[str, str]
) -> None:
    response = export(client, **params)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]


def large_ledger(services: Services) -> int:
    """Many verifications of five events each, saved ten at a time; how many events."""
    for first in range(0, LARGE_LEDGER_VERIFICATIONS, 10):
        verifications = []
        for number in range(first, first + 10):
            scan_ref = f"bulk-{number:05d}"
            verification = Verification.start(scan_ref, FIRST_DELIVERY_AT)
            verification.register(Registration(scan_ref=scan_ref, client_id=f"client-{number}"))
            for attempt in range(4):
                raw = encode(result_body(scan_ref, finish_time=1718787742 + attempt))
                digest = hashlib.sha256(raw).hexdigest()
                delivered = Delivery(
                    Kind.AUTO_FINISHED, FIRST_DELIVERY_AT, raw, digest, SIGNING_KEY_ID
                )
                verification.receive(delivered, Outcome(scan_ref=scan_ref, overall="APPROVED"))
            verifications.append(verification)
        services.ledger.save(*verifications)
    return LARGE_LEDGER_VERIFICATIONS * 5


def test_a_large_export_streams_back_complete_in_ledger_order(
    client: TestClient, services: Services
) -> None:
    count = large_ledger(services)

    as_ndjson = export(client)
    as_csv = export(client, format="csv")

    assert "content-length" not in as_ndjson.headers
    assert positions(as_ndjson) == all_positions(services) == list(range(1, count + 1))
    assert len(as_csv.text.splitlines()) == count + 1


def test_the_export_is_a_streaming_response(services: Services) -> None:
    scope = {
        "type": "http",
        "app": create_app(services),
        "method": "GET",
        "path": "/audit/events",
        "query_string": b"format=csv",
        "headers": [(b"authorization", AUDITOR["Authorization"].encode())],
    }

    response = anyio.run(auditor.audit_events, services, Request(scope))

    assert isinstance(response, StreamingResponse)


# The digest


def test_the_digest_commits_to_every_event_up_to_the_position_it_names(
    client: TestClient, services: Services
) -> None:
    position = recorded(services)

    response = client.get("/audit/digest", params={"minPosition": position}, headers=AUDITOR)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"events", "digest", "at", "position"}
    report = verify_ledger(services.ledger, datetime.now(UTC))
    assert body["events"] == report.events == 10
    assert body["digest"] == report.digest.digest
    assert re.fullmatch(r"[0-9a-f]{64}", body["digest"])
    assert body["position"] == position == last_position(services.ledger)
    assert ISO_UTC.match(body["at"])
    assert abs(datetime.fromisoformat(body["at"]) - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_query_parameter_the_digest_does_not_use_cannot_empty_it(
    client: TestClient, services: Services
) -> None:
    position = recorded(services)
    wanted = client.get("/audit/digest", params={"minPosition": position}, headers=AUDITOR)

    response = client.get("/audit/digest?unused=%00", headers=AUDITOR)

    assert response.status_code == 200, response.text
    assert response.json()["digest"] == wanted.json()["digest"]


# The access log


def test_the_access_log_lists_auditor_reads_by_key_id_newest_first(
    client: TestClient, services: Services
) -> None:
    position = recorded(services)
    timeline(client, MANUAL, position, payload="1")
    export(client, format="csv", since="3")
    client.get("/audit/digest", headers=ADMIN)

    response = client.get("/audit/access", headers=AUDITOR)

    assert response.status_code == 200
    assert API_TOKENS["auditor"] not in response.text
    assert API_TOKENS["admin"] not in response.text
    entries = response.json()["entries"]
    auditor_id = f"auditor:{fingerprint(API_TOKENS['auditor'])}"
    admin_id = f"admin:{fingerprint(API_TOKENS['admin'])}"
    read_timeline = f"GET /verifications/{MANUAL}/timeline?minPosition={position}&payload=1"
    assert [(e["keyId"], e["role"], e["what"]) for e in entries] == [
        (auditor_id, "auditor", "GET /audit/access"),
        (admin_id, "admin", "GET /audit/digest"),
        (auditor_id, "auditor", "GET /audit/events?format=csv&since=3"),
        (auditor_id, "auditor", read_timeline),
    ]  # fmt: skip
    assert all(ISO_UTC.match(e["at"]) for e in entries)
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)


def test_auditor_reads_change_neither_the_verification_events_nor_the_digest(
    client: TestClient, services: Services
) -> None:
    position = recorded(services)
    before = verify_ledger(services.ledger, datetime.now(UTC))
    digest_before = client.get("/audit/digest", params={"minPosition": position}, headers=AUDITOR)

    for scan_ref in (MANUAL, LEGACY, CANCELLED):
        timeline(client, scan_ref, position, payload="1")
    export(client)
    export(client, format="csv")
    client.get("/audit/access", headers=ADMIN)
    digest_after = client.get("/audit/digest", params={"minPosition": position}, headers=AUDITOR)
    after = verify_ledger(services.ledger, datetime.now(UTC))

    assert last_position(services.ledger) == position
    assert after.events == before.events == 10
    assert after.digest.digest == before.digest.digest
    assert digest_after.json()["digest"] == digest_before.json()["digest"]
    assert digest_after.json()["events"] == digest_before.json()["events"] == 10
    assert len(client.get("/audit/access", headers=AUDITOR).json()["entries"]) == 9


# Who may read


@pytest.mark.parametrize("route", AUDITOR_ROUTES)
def test_every_auditor_route_refuses_backend_unknown_and_missing_tokens(
    client: TestClient, services: Services, route: str
) -> None:
    position = recorded(services)
    refusals: list[tuple[dict[str, str], int]] = [
        (BACKEND, 403),
        ({"Authorization": "Bearer not-a-configured-token"}, 401),
        ({"Authorization": f"Basic {API_TOKENS['auditor']}"}, 401),
        ({}, 401),
    ]

    for headers, status in refusals:
        response = client.get(route, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert response.json()["error"]
    for headers in (AUDITOR, ADMIN):
        allowed = client.get(route, params={"minPosition": position}, headers=headers)
        assert allowed.status_code == 200, allowed.text
    reads = [(e["role"], e["what"]) for e in services.access_log.entries(100)]
    assert reads[:2] == [
        ("admin", f"GET {route}?minPosition={position}"),
        ("auditor", f"GET {route}?minPosition={position}"),
    ]
