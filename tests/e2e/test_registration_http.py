from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

import adapters.persistence
from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from app.service.errors import StoreUnavailableError
from app.service.ledger import Ledger
from app.service.services import Services
from domain.reports import Receipt, Registration
from domain.verification import Verification
from tests.support.idenfy import result_body
from tests.support.settings import API_TOKENS, environment
from tests.support.webhooks import post_to_the_kindless_endpoint

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
CLIENT_ID = "user-7f3c2a"


def registration(**changes: Any) -> dict[str, Any]:
    return {"scanRef": SCAN_REF, "clientId": CLIENT_ID, "externalRef": "onb-1"} | changes


def register(
    client: TestClient, body: dict[str, Any] | bytes, role: str = "backend"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_TOKENS[role]}"}
    if isinstance(body, bytes):
        return client.post("/verifications", content=body, headers=headers)
    return client.post("/verifications", json=body, headers=headers)


def history(services: Services, scan_ref: str = SCAN_REF) -> list[type[object]]:
    return [type(event) for event in services.ledger.history(scan_ref)]


def position(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["error"], str)
    assert response.json()["error"]


# Authorization


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer unknown-token", "Bearer ", f"Basic {API_TOKENS['backend']}", "backend-token"],
    ids=["none", "unknown token", "empty token", "another scheme", "no scheme"],
)
def test_registering_without_a_known_bearer_token_is_unauthorized(
    client: TestClient, services: Services, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post("/verifications", json=registration(), headers=headers)
    assert_json_error(response, 401)
    assert position(services) == 0


@pytest.mark.parametrize("role", ["backend", "auditor", "admin"])
def test_every_role_may_register_a_verification(
    client: TestClient, services: Services, role: str
) -> None:
    response = register(client, registration(), role)
    assert response.status_code == 201
    assert response.json()["result"] == "registered"
    assert history(services) == [Verification.Registered]


# Outcomes


def test_a_new_registration_is_created_as_the_first_event(
    client: TestClient, services: Services
) -> None:
    response = register(client, registration(maxReattempts=2, expiryTime=3600))
    assert response.status_code == 201
    answer = response.json()
    assert (answer["result"], answer["scanRef"], answer["sequence"]) == ("registered", SCAN_REF, 1)
    assert answer["position"] == position(services)
    [event] = services.ledger.history(SCAN_REF)
    assert isinstance(event, Verification.Registered)
    assert (event.client_id, event.external_ref) == (CLIENT_ID, "onb-1")
    assert (event.max_reattempts, event.max_image_recaptures) == (2, 3)
    assert (event.expiry_time, event.session_length) == (3600, None)


def test_the_identical_registration_again_answers_ok_with_the_same_sequence(
    client: TestClient, services: Services
) -> None:
    first = register(client, registration())
    again = register(client, registration(maxReattempts=1, maxImageRecaptures=3))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["result"] == "duplicate"
    assert again.json()["sequence"] == first.json()["sequence"] == 1
    assert history(services) == [Verification.Registered]


@pytest.mark.parametrize(
    "change",
    [{"clientId": "user-other"}, {"maxReattempts": 3}, {"externalRef": None}],
    ids=["client", "reattempts", "external ref"],
)
def test_a_differing_registration_of_the_same_scan_ref_conflicts(
    client: TestClient, services: Services, change: dict[str, Any]
) -> None:
    assert register(client, registration()).status_code == 201
    assert_json_error(register(client, registration(**change)), 409)
    assert history(services) == [Verification.Registered]


INVALID: dict[str, dict[str, Any] | bytes] = {
    "missing clientId": {"scanRef": SCAN_REF},
    "missing scanRef": {"clientId": CLIENT_ID},
    "empty clientId": registration(clientId=""),
    "negative maxReattempts": registration(maxReattempts=-1),
    "negative maxImageRecaptures": registration(maxImageRecaptures=-1),
    "maxReattempts as text": registration(maxReattempts="2"),
    "bad scanRef": registration(scanRef="not a scan ref!"),
    "scanRef too long": registration(scanRef="a" * 101),
    "unknown field": registration(callbackUrl="https://example.test/"),
    "not JSON": b"scanRef=3f2b8c1e&clientId=user",
    "a JSON array": b'["3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"]',
    "invalid UTF-8": b'{"scanRef": "3f2b8c1e", "clientId": "\xff"}',
    "an empty body": b"",
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_registration_is_unprocessable_and_records_nothing(
    client: TestClient, services: Services, body: dict[str, Any] | bytes
) -> None:
    assert_json_error(register(client, body), 422)
    assert position(services) == 0


# Registration and webhooks on one history


def test_a_registration_before_the_first_webhook_is_sequence_one(
    client: TestClient, services: Services
) -> None:
    assert register(client, registration()).json()["sequence"] == 1
    webhook = post_to_the_kindless_endpoint(client, result_body(SCAN_REF, client_id=CLIENT_ID))
    assert (webhook.json()["result"], webhook.json()["sequence"]) == ("recorded", 2)
    assert history(services) == [Verification.Registered, Verification.AutoReviewFinished]


def test_a_registration_after_a_webhook_follows_it(client: TestClient, services: Services) -> None:
    assert (
        post_to_the_kindless_endpoint(client, result_body(SCAN_REF, client_id=CLIENT_ID)).json()[
            "sequence"
        ]
        == 1
    )
    response = register(client, registration())
    assert response.status_code == 201
    assert response.json()["sequence"] == 2
    assert history(services) == [Verification.AutoReviewFinished, Verification.Registered]


def test_a_registration_for_another_client_than_the_webhooks_conflicts(
    client: TestClient, services: Services
) -> None:
    assert (
        post_to_the_kindless_endpoint(
            client, result_body(SCAN_REF, client_id=CLIENT_ID)
        ).status_code
        == 200
    )
    assert_json_error(register(client, registration(clientId="user-somebody-else")), 409)
    assert history(services) == [Verification.AutoReviewFinished]


def test_registrations_of_other_scan_refs_have_histories_of_their_own(
    client: TestClient, services: Services
) -> None:
    other = "8a1d0c44-5a7d-11ef-9c2a-0242ac120002"
    assert register(client, registration()).json()["sequence"] == 1
    assert register(client, registration(scanRef=other)).json()["sequence"] == 1
    assert history(services, other) == [Verification.Registered]


# The store cannot commit


class UnavailableLedger(Ledger):
    """A real ledger over the test's store whose writes always fail, as if it were down."""

    def register(self, registration: Registration, at: datetime) -> Receipt:
        raise StoreUnavailableError("the store is down")


def test_a_registration_the_store_cannot_commit_asks_to_retry_later(database_url: str) -> None:
    settings = load(environment(database_url))
    ledger = UnavailableLedger(
        env=adapters.persistence.eventsourcing_settings(settings.store, None)
    )
    services = bootstrap(settings, ledger=ledger)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            response = register(client, registration())
        assert_json_error(response, 503)
        assert int(response.headers["retry-after"]) > 0
        assert position(services) == 0
    finally:
        services.close()
