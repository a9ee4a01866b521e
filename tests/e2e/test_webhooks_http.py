from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx2 as httpx
import pytest
from eventsourcing.persistence import PersistenceError, Recording
from starlette.testclient import TestClient

import adapters.persistence
from adapters.signing import fingerprint, sign
from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from app.service.ledger import Ledger
from app.service.services import Services
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.postgres import running_cluster
from tests.support.settings import SIGNING_KEYS, environment
from tests.support.webhooks import auth, wait_for_views

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
MIB = 1024 * 1024

EVENT_CLASSES: dict[str, type[Verification.Reported]] = {
    "identification": Verification.IdentificationFinished,
    "auto-finished": Verification.AutoReviewFinished,
    "manual-finished": Verification.ManualReviewFinished,
    "cancelled": Verification.VerificationCanceled,
    "expired": Verification.VerificationExpired,
    "resubmitted": Verification.VerificationResubmitted,
    "document-expiration": Verification.DocumentExpirationNoticed,
}

HEADER_KINDS = {
    "IDENTIFICATION": "identification",
    "IDENTIFICATION_AUTO_FINISHED": "auto-finished",
    "IDENTIFICATION_MANUAL_FINISHED": "manual-finished",
    "IDENTIFICATION_CANCELLED": "cancelled",
    "IDENTIFICATION_CANCELED": "cancelled",
    "IDENTIFICATION_EXPIRED": "expired",
    "IDENTIFICATION_RESUBMITTED": "resubmitted",
    "DOCUMENT_EXPIRATION": "document-expiration",
}


def expiration_body(scan_ref: str = SCAN_REF) -> dict[str, Any]:
    """iDenfy's small DOCUMENT_EXPIRATION notice."""
    return {
        "scanRef": scan_ref,
        "clientId": "user-7f3c2a",
        "expirationThreshold": "30",
        "documentExpiration": "2026-01-31",
    }


def body_for(kind: str, scan_ref: str = SCAN_REF) -> bytes:
    if kind == "document-expiration":
        return encode(expiration_body(scan_ref))
    return encode(result_body(scan_ref))


def post(
    client: TestClient,
    raw: bytes,
    *,
    path: str = "/webhooks/idenfy",
    event_type: str | None = None,
    key: str = SIGNING_KEYS[0],
) -> httpx.Response:
    return client.post(path, content=raw, headers=signed_headers(raw, key, event_type))


def stored_events(services: Services, scan_ref: str = SCAN_REF) -> list[Verification.Reported]:
    events = list(services.ledger.history(scan_ref))
    assert all(isinstance(event, Verification.Reported) for event in events)
    return [event for event in events if isinstance(event, Verification.Reported)]


def position(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["error"], str)
    assert response.json()["error"]


def test_a_signed_delivery_is_recorded_once_and_its_repeat_is_a_duplicate(
    client: TestClient,
) -> None:
    raw = encode(result_body())
    headers = signed_headers(raw, SIGNING_KEYS[0], "IDENTIFICATION_AUTO_FINISHED")
    first = client.post("/webhooks/idenfy", content=raw, headers=headers)
    again = client.post("/webhooks/idenfy", content=raw, headers=headers)
    assert first.status_code == 200
    assert first.json()["result"] == "recorded"
    assert first.json()["sequence"] == 1
    assert again.json() == {
        "result": "duplicate",
        "scanRef": "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002",
        "sequence": 1,
    }


# Kinds


@pytest.mark.parametrize("path_kind", [*EVENT_CLASSES, "canceled"])
def test_each_receiver_path_records_its_kind_of_event(
    client: TestClient, services: Services, path_kind: str
) -> None:
    kind = "cancelled" if path_kind == "canceled" else path_kind
    raw = body_for(kind)
    response = post(client, raw, path=f"/webhooks/idenfy/{path_kind}")
    assert response.status_code == 200
    assert response.json() == {
        "result": "recorded",
        "scanRef": SCAN_REF,
        "sequence": 1,
        "position": position(services),
    }
    [event] = stored_events(services)
    assert type(event) is EVENT_CLASSES[kind]
    assert event.kind == kind
    assert event.header_kind is None
    assert event.payload == raw


def test_a_document_expiration_notice_keeps_its_threshold_and_date(
    client: TestClient, services: Services
) -> None:
    response = post(client, body_for("document-expiration"), event_type="DOCUMENT_EXPIRATION")
    assert response.json()["result"] == "recorded"
    [event] = stored_events(services)
    assert isinstance(event, Verification.DocumentExpirationNoticed)
    assert (event.threshold, event.document_expiration) == ("30", "2026-01-31")
    assert event.client_id == "user-7f3c2a"


@pytest.mark.parametrize(("event_type", "kind"), HEADER_KINDS.items())
def test_each_event_type_header_records_its_kind_of_event(
    client: TestClient, services: Services, event_type: str, kind: str
) -> None:
    raw = body_for(kind)
    response = post(client, raw, event_type=event_type)
    assert response.status_code == 200
    assert response.json()["result"] == "recorded"
    [event] = stored_events(services)
    assert type(event) is EVENT_CLASSES[kind]
    assert event.kind == kind
    assert event.header_kind is None


def test_a_delivery_without_an_event_type_is_a_legacy_identification(
    client: TestClient, services: Services
) -> None:
    response = post(client, encode(result_body()))
    assert response.status_code == 200
    [event] = stored_events(services)
    assert type(event) is Verification.IdentificationFinished
    assert event.kind == "identification"


def test_the_path_wins_over_a_disagreeing_header_which_the_event_keeps(
    client: TestClient, services: Services
) -> None:
    raw = encode(result_body())
    response = post(
        client, raw, path="/webhooks/idenfy/auto-finished", event_type="IDENTIFICATION_EXPIRED"
    )
    assert response.status_code == 200
    [event] = stored_events(services)
    assert type(event) is Verification.AutoReviewFinished
    assert event.kind == "auto-finished"
    assert event.header_kind == "IDENTIFICATION_EXPIRED"


def test_a_header_that_agrees_with_the_path_is_not_kept_as_a_disagreement(
    client: TestClient, services: Services
) -> None:
    response = post(
        client,
        encode(result_body()),
        path="/webhooks/idenfy/canceled",
        event_type="IDENTIFICATION_CANCELLED",
    )
    assert response.status_code == 200
    [event] = stored_events(services)
    assert (event.kind, event.header_kind) == ("cancelled", None)


def test_an_unmodelled_header_under_a_known_path_is_recorded_under_the_path(
    client: TestClient, services: Services
) -> None:
    response = post(
        client,
        encode(result_body()),
        path="/webhooks/idenfy/manual-finished",
        event_type="VIDEO_CALL_FINISHED",
    )
    assert response.json()["result"] == "recorded"
    [event] = stored_events(services)
    assert (event.kind, event.header_kind) == ("manual-finished", "VIDEO_CALL_FINISHED")


# Signatures


def test_a_delivery_signed_with_the_second_key_names_that_key_and_never_reveals_it(
    client: TestClient, services: Services
) -> None:
    response = post(client, encode(result_body()), key=SIGNING_KEYS[1])
    assert response.status_code == 200
    [event] = stored_events(services)
    assert event.signing_key == f"#2:{fingerprint(SIGNING_KEYS[1])}"
    assert SIGNING_KEYS[1] not in event.signing_key
    assert SIGNING_KEYS[0] not in event.signing_key


def test_a_delivery_signed_with_the_first_key_names_the_first_key(
    client: TestClient, services: Services
) -> None:
    post(client, encode(result_body()), key=SIGNING_KEYS[0])
    [event] = stored_events(services)
    assert event.signing_key.startswith("#1:")


BAD_SIGNATURES: dict[str, dict[str, str]] = {
    "unknown key": {"Idenfy-Signature": sign("someone-elses-key", encode(result_body()))},
    "other body": {"Idenfy-Signature": sign(SIGNING_KEYS[0], b"{}")},
    "not hex": {"Idenfy-Signature": "not-a-signature"},
    "empty": {"Idenfy-Signature": ""},
    "missing": {},
}


@pytest.mark.parametrize("signature", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/webhooks/idenfy", encode(result_body())),
        ("/webhooks/idenfy/auto-finished", encode(result_body())),
        ("/webhooks/idenfy", b"not json at all"),
    ],
    ids=["header route", "path route", "unusable body"],
)
def test_a_delivery_without_a_valid_signature_is_refused_and_kept_only_as_unsigned(
    client: TestClient, services: Services, signature: dict[str, str], path: str, raw: bytes
) -> None:
    earlier = encode(result_body(final=False))
    assert post(client, earlier).json()["result"] == "recorded"
    assert post(client, b'{"scanRef": 42}').status_code == 202  # an authentic one kept
    before = position(services)
    headers = {"Content-Type": "application/json", **signature}
    response = client.post(path, content=raw, headers=headers)
    assert_json_error(response, 401)
    assert position(services) == before
    assert [event.payload for event in stored_events(services)] == [earlier]
    newest = services.quarantine.entries(1)[0]
    assert newest.payload == raw
    assert not newest.authentic
    assert newest.signing_key is None
    assert newest.cause == "missing or wrong Idenfy-Signature"


# Routes


def test_an_unknown_kind_in_the_path_is_not_found(client: TestClient, services: Services) -> None:
    for kind in ("video-call-finished", "auto_finished", "IDENTIFICATION_AUTO_FINISHED"):
        response = post(client, encode(result_body()), path=f"/webhooks/idenfy/{kind}")
        assert_json_error(response, 404)
    assert position(services) == 0
    assert services.quarantine.count() == 0


def test_reading_a_webhook_path_is_not_allowed(client: TestClient) -> None:
    for path in ("/webhooks/idenfy", "/webhooks/idenfy/auto-finished"):
        assert_json_error(client.get(path), 405)


def test_an_unknown_route_is_not_found_as_json(client: TestClient) -> None:
    assert_json_error(client.post("/webhooks/other", content=b"{}"), 404)
    assert_json_error(client.get("/no/such/route"), 404)


# Quarantine


def test_an_unmodelled_event_type_naming_a_verification_is_recorded_once_as_other(
    client: TestClient, services: Services
) -> None:
    raw = encode(result_body())
    first = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    again = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    assert first.status_code == again.status_code == 200, first.text
    assert (first.json()["result"], again.json()["result"]) == ("recorded", "duplicate")
    assert services.quarantine.count() == 0
    [event] = stored_events(services)
    assert isinstance(event, Verification.OtherReported)
    assert (event.kind, event.header_kind, event.payload) == ("other", "VIDEO_CALL_FINISHED", raw)
    assert event.signing_key == f"#1:{fingerprint(SIGNING_KEYS[0])}"


def test_the_same_body_under_another_unmodelled_event_type_is_another_delivery(
    client: TestClient, services: Services
) -> None:
    raw = encode(result_body())
    first = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    second = post(client, raw, event_type="AML_MONITORING_HIT")
    assert (first.json()["sequence"], second.json()["sequence"]) == (1, 2)
    assert services.quarantine.count() == 0


def test_an_unmodelled_event_type_naming_no_verification_is_recorded_on_its_types_subject(
    client: TestClient, services: Services
) -> None:
    raw = encode({"callId": "v-1", "status": "FINISHED", "clientId": "user-1"})
    first = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    again = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    spelled = post(client, raw, event_type="video call finished")  # the type as sent differs
    assert (first.status_code, first.json()["result"]) == (200, "recorded")
    assert (again.json()["result"], again.json()["sequence"]) == ("duplicate", 1)
    assert first.json()["subject"] == spelled.json()["subject"] == "other:VIDEO_CALL_FINISHED"
    assert spelled.json()["sequence"] == 2
    assert services.quarantine.count() == 0
    event, _ = services.ledger.history("other:VIDEO_CALL_FINISHED")
    assert isinstance(event, Verification.OtherReported)
    assert (event.payload, event.client_id) == (raw, "user-1")
    services.start_projections()
    wait_for_views(services, spelled.json()["position"])
    timeline = client.get(
        "/audit/unmodelled/video-call-finished/timeline?payload=1", headers=auth("auditor")
    ).json()
    assert [(e["kind"], e["payload"]) for e in timeline["entries"]] == [("other", raw.decode())] * 2
    assert timeline["chain"]["valid"] is True


@pytest.mark.parametrize("raw", [b"[1, 2]", b"not json", b'"text"'], ids=["array", "text", "str"])
def test_an_unmodelled_event_type_with_a_body_that_is_no_object_is_quarantined_once(
    client: TestClient, services: Services, raw: bytes
) -> None:
    first = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    again = post(client, raw, event_type="VIDEO_CALL_FINISHED")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert position(services) == 0
    kept = services.quarantine.get(first.json()["id"])
    assert kept is not None
    assert kept.payload == raw
    assert kept.event_type == "VIDEO_CALL_FINISHED"
    assert "VIDEO_CALL_FINISHED" in kept.cause


DEEPLY_NESTED = encode(result_body() | {"extra": None}).replace(
    b'"extra":null', b'"extra":' + b"[" * 50_000 + b"]" * 50_000
)
UNUSABLE_BODIES: dict[str, bytes] = {
    "malformed JSON": b'{"scanRef": "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002", "final": tru',
    "invalid UTF-8": b'{"scanRef": "3f2b8c1e-\xff\xfe", "final": true}',
    "a JSON array": b'[{"scanRef": "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"}]',
    "a JSON string": b'"3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"',
    "an empty body": b"",
    "no scanRef": encode({k: v for k, v in result_body().items() if k != "scanRef"}),
    "a null scanRef": encode(result_body() | {"scanRef": None}),
    "a numeric scanRef": encode(result_body() | {"scanRef": 12345}),
    "a scanRef with a space": encode(result_body("scan ref")),
    "final as a string": encode(result_body() | {"final": "yes"}),
    "finishTime as a string": encode(result_body() | {"finishTime": "2024-06-19T09:02:22Z"}),
    "status as a list": encode(result_body() | {"status": ["APPROVED"]}),
    "deeply nested": DEEPLY_NESTED,
    "fraudTags as a string": encode(
        result_body() | {"status": {"overall": "DENIED", "fraudTags": "FACE_IN_BLACKLIST"}}
    ),
}


@pytest.mark.parametrize("raw", UNUSABLE_BODIES.values(), ids=UNUSABLE_BODIES.keys())
def test_an_authentic_but_unusable_body_is_quarantined_whole_with_its_cause(
    client: TestClient, services: Services, raw: bytes
) -> None:
    response = post(client, raw, event_type="IDENTIFICATION_AUTO_FINISHED")
    assert response.status_code == 202
    assert response.json()["result"] == "quarantined"
    kept = services.quarantine.get(response.json()["id"])
    assert kept is not None
    assert kept.payload == raw
    assert kept.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert kept.cause.strip()
    assert kept.event_type == "IDENTIFICATION_AUTO_FINISHED"
    assert position(services) == 0


def test_a_result_body_under_the_document_expiration_path_is_quarantined(
    client: TestClient, services: Services
) -> None:
    raw = encode(result_body() | {"expirationThreshold": 30})
    response = post(client, raw, path="/webhooks/idenfy/document-expiration")
    assert response.status_code == 202
    kept = services.quarantine.get(response.json()["id"])
    assert kept is not None
    assert kept.path_kind == "document-expiration"
    assert kept.payload == raw
    assert position(services) == 0


# Duplicates and sequences


def test_a_repeated_delivery_answers_with_its_original_sequence(
    client: TestClient, services: Services
) -> None:
    first = encode(result_body(final=False, overall="SUSPECTED"))
    second = encode(result_body(final=True, overall="APPROVED"))
    headers_kind = "IDENTIFICATION_AUTO_FINISHED"
    assert post(client, first, event_type=headers_kind).json()["sequence"] == 1
    assert post(client, second, event_type=headers_kind).json()["sequence"] == 2
    again = post(client, first, event_type=headers_kind)
    assert again.status_code == 200
    assert again.json() == {"result": "duplicate", "scanRef": SCAN_REF, "sequence": 1}
    via_path = post(client, first, path="/webhooks/idenfy/auto-finished")
    assert via_path.json() == {"result": "duplicate", "scanRef": SCAN_REF, "sequence": 1}
    assert len(stored_events(services)) == 2


def test_both_spellings_of_cancelled_are_one_kind_for_duplicates(
    client: TestClient, services: Services
) -> None:
    raw = encode(result_body(overall="CANCELED"))
    first = post(client, raw, path="/webhooks/idenfy/cancelled")
    assert first.json()["result"] == "recorded"
    for path, event_type in [
        ("/webhooks/idenfy/canceled", None),
        ("/webhooks/idenfy", "IDENTIFICATION_CANCELED"),
        ("/webhooks/idenfy", "IDENTIFICATION_CANCELLED"),
    ]:
        again = post(client, raw, path=path, event_type=event_type)
        assert again.json() == {"result": "duplicate", "scanRef": SCAN_REF, "sequence": 1}
    assert len(stored_events(services)) == 1


def test_the_same_bytes_under_another_kind_are_another_event(
    client: TestClient, services: Services
) -> None:
    raw = encode(result_body())
    first = post(client, raw, event_type="IDENTIFICATION_AUTO_FINISHED")
    second = post(client, raw, event_type="IDENTIFICATION_MANUAL_FINISHED")
    assert (first.json()["result"], first.json()["sequence"]) == ("recorded", 1)
    assert (second.json()["result"], second.json()["sequence"]) == ("recorded", 2)
    assert [event.kind for event in stored_events(services)] == [
        "auto-finished",
        "manual-finished",
    ]


def test_different_deliveries_for_one_scan_ref_are_numbered_one_to_n(
    client: TestClient, services: Services
) -> None:
    answers = [
        post(client, encode(result_body(finish_time=1718787742 + n)), event_type=event_type)
        for n, event_type in enumerate(HEADER_KINDS)
        if event_type != "DOCUMENT_EXPIRATION"
    ]
    answers.append(post(client, body_for("document-expiration"), event_type="DOCUMENT_EXPIRATION"))
    assert [answer.json()["sequence"] for answer in answers] == list(range(1, 9))
    positions = [answer.json()["position"] for answer in answers]
    assert positions == sorted(set(positions))
    assert [event.originator_version for event in stored_events(services)] == list(range(1, 9))


def test_deliveries_for_other_scan_refs_have_histories_of_their_own(
    client: TestClient, services: Services
) -> None:
    other = "8a1d0c44-5a7d-11ef-9c2a-0242ac120002"
    assert post(client, encode(result_body(SCAN_REF))).json()["sequence"] == 1
    assert post(client, encode(result_body(other))).json()["sequence"] == 1
    assert post(client, encode(result_body(other, final=False))).json()["sequence"] == 2
    assert len(stored_events(services, SCAN_REF)) == 1
    assert len(stored_events(services, other)) == 2


# Payload bytes


def test_the_stored_payload_is_exactly_the_posted_bytes_with_their_digest(
    client: TestClient, services: Services
) -> None:
    raw = (
        b'{ "scanRef" : "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002",\r\n'
        b'  "final":true , "note": "J\xc3\xb5nas \\u00e9 \\ud83d\\ude00", "z": 1.50e+1,'
        b' "status": {"overall": "APPROVED"}, "scanRef2": null }\n\n'
    )
    response = post(client, raw)
    assert response.json()["result"] == "recorded"
    [event] = stored_events(services)
    assert event.payload == raw
    assert event.payload_sha256 == hashlib.sha256(raw).hexdigest()


# Body size


def padded_body(size: int) -> bytes:
    """A valid result body of exactly ``size`` bytes."""
    bare = encode(result_body() | {"padding": ""})
    raw = encode(result_body() | {"padding": "x" * (size - len(bare))})
    assert len(raw) == size
    return raw


def test_a_body_of_exactly_one_mebibyte_is_accepted(client: TestClient, services: Services) -> None:
    raw = padded_body(MIB)
    response = post(client, raw)
    assert response.status_code == 200
    assert response.json()["result"] == "recorded"
    assert stored_events(services)[0].payload == raw


def test_a_declared_body_over_one_mebibyte_is_too_large(
    client: TestClient, services: Services
) -> None:
    response = post(client, padded_body(MIB + 1))
    assert_json_error(response, 413)
    assert (position(services), services.quarantine.count()) == (0, 0)


def chunks(raw: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def test_a_chunked_body_over_one_mebibyte_is_too_large(
    client: TestClient, services: Services
) -> None:
    raw = padded_body(MIB + 1)
    response = client.post(
        "/webhooks/idenfy", content=chunks(raw), headers=signed_headers(raw, SIGNING_KEYS[0])
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_json_error(response, 413)
    assert (position(services), services.quarantine.count()) == (0, 0)


def test_a_chunked_body_within_the_limit_is_recorded_whole(
    client: TestClient, services: Services
) -> None:
    raw = padded_body(MIB)
    response = client.post(
        "/webhooks/idenfy", content=chunks(raw), headers=signed_headers(raw, SIGNING_KEYS[0])
    )
    assert "content-length" not in response.request.headers
    assert response.json()["result"] == "recorded"
    assert stored_events(services)[0].payload == raw


# The store cannot commit


class UnavailableLedger(Ledger):
    """A real ledger over the test's store whose commits always fail, as if it were down."""

    def _save(self, verifications: Sequence[Verification]) -> list[Recording[UUID]]:
        raise PersistenceError("the store is down")


def test_a_store_that_cannot_commit_asks_the_sender_to_retry_later(database_url: str) -> None:
    settings = load(environment(database_url))
    ledger = UnavailableLedger(
        env=adapters.persistence.eventsourcing_settings(settings.store, None)
    )
    services = bootstrap(settings, ledger=ledger)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            response = post(client, encode(result_body()))
        assert_json_error(response, 503)
        assert int(response.headers["retry-after"]) > 0
        assert position(services) == 0
    finally:
        services.close()


def test_a_locked_sqlite_database_answers_503_and_recovers_when_released(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapters.persistence, "SQLITE_LOCK_TIMEOUT_SECONDS", 1)
    services = bootstrap(load(environment(sqlite_url)))
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            assert post(client, encode(result_body(final=False))).json()["sequence"] == 1
            locker = sqlite3.connect(path, isolation_level=None, timeout=0.1)
            try:
                locker.execute("BEGIN EXCLUSIVE")
                started = time.monotonic()
                refused = post(client, encode(result_body(final=True)))
                elapsed = time.monotonic() - started
                unusable = post(client, b"not json", event_type="IDENTIFICATION")
            finally:
                locker.rollback()
                locker.close()
            assert_json_error(refused, 503)
            assert "retry-after" in refused.headers
            assert elapsed < 4
            assert_json_error(unusable, 503)
            assert position(services) == 1
            assert services.quarantine.count() == 0
            recovered = post(client, encode(result_body(final=True)))
            assert recovered.json()["result"] == "recorded"
            assert recovered.json()["sequence"] == 2
    finally:
        services.close()


@pytest.mark.postgres
def test_a_stopped_postgres_server_answers_503_quickly_and_the_service_recovers() -> None:
    with running_cluster() as cluster:
        services = bootstrap(load(environment(cluster.url())))
        try:
            with TestClient(create_app(services), raise_server_exceptions=False) as client:
                first = post(client, encode(result_body(final=False)))
                assert first.json()["sequence"] == 1
                cluster.stop()
                started = time.monotonic()
                refused = post(client, encode(result_body(final=True)))
                elapsed = time.monotonic() - started
                assert_json_error(refused, 503)
                assert "retry-after" in refused.headers
                assert elapsed < 5
                cluster.start()
                recovered = post(client, encode(result_body(final=True)))
                assert recovered.status_code == 200
                assert recovered.json()["result"] == "recorded"
                assert recovered.json()["sequence"] == 2
            assert len(stored_events(services)) == 2
        finally:
            services.close()
