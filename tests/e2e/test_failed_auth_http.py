"""Bearer tokens on the API: failures limited (429 with ``Retry-After``) and recorded,
and every read by an auditor or admin token recorded, whichever route it took. Over
HTTP, in process, against each store."""

from __future__ import annotations

import dataclasses

import pytest
from starlette.testclient import TestClient

from adapters.signing import fingerprint
from app.config import FailureLimits
from app.server import create_app
from app.service.services import Services
from app.service.throttle import FailureLimiter
from tests.support.settings import API_TOKENS
from tests.support.webhooks import deliver_result

SCAN_REF = "auth-3f2b8c1e-5a7d-11ef"
CLIENT_ID = "client-of-the-auth-tests"
WRONG = "a-wrong-token-from-a-guesser"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def limited(services: Services, per_client: int, overall: int) -> Services:
    limits = FailureLimits(per_client=per_client, overall=overall, window_seconds=300)
    return dataclasses.replace(services, auth_failures=FailureLimiter(limits))


@pytest.mark.parametrize(
    "path", ["/verifications/any-scan-ref", "/verifications?limit=5", "/audit/digest"]
)
def test_bearer_failures_past_the_limit_are_answered_429_with_retry_after(
    client: TestClient, services: Services, path: str
) -> None:
    for _ in range(services.settings.failure_limits.per_client):
        assert client.get(path, headers=bearer(WRONG)).status_code == 401

    refused = client.get(path, headers=bearer(API_TOKENS["admin"]))

    assert refused.status_code == 429
    assert refused.json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    with TestClient(create_app(services), client=("192.0.2.20", 40000)) as other:
        assert other.get(path, headers=bearer(API_TOKENS["admin"])).status_code != 429


def test_failures_from_many_addresses_reach_the_overall_limit(services: Services) -> None:
    app = create_app(limited(services, per_client=10, overall=3))
    for number in range(3):
        with TestClient(app, client=(f"198.51.100.{number}", 40000)) as guesser:
            assert guesser.get("/verifications", headers=bearer(WRONG)).status_code == 401

    with TestClient(app, client=("203.0.113.9", 40000)) as anyone:
        refused = anyone.get("/verifications/x", headers=bearer(API_TOKENS["backend"]))

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


def test_each_bearer_failure_is_recorded_with_its_address_and_a_fingerprint(
    client: TestClient, services: Services
) -> None:
    client.get("/verifications/any-scan-ref", headers=bearer(WRONG))
    client.get(f"/clients/{CLIENT_ID}")
    client.get("/audit/events", headers={"Authorization": f"Basic {WRONG}"})
    client.get("/audit/events", headers=bearer(API_TOKENS["backend"]))  # 403: not a failure

    entries = services.access_log.entries(10)

    assert [(e["keyId"], e["role"], e["what"].split(" (")[0]) for e in entries] == [
        (f"testclient tried:{fingerprint(WRONG)}", "refused", "GET /audit/events"),
        ("testclient tried:nothing", "refused", f"GET /clients/{CLIENT_ID}"),
        (
            f"testclient tried:{fingerprint(WRONG)}",
            "refused",
            "GET /verifications/any-scan-ref",
        ),
    ]
    assert WRONG not in str(entries)


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_every_read_by_an_auditor_or_admin_token_is_recorded(
    client: TestClient, services: Services, role: str
) -> None:
    position = deliver_result(client, SCAN_REF, client_id=CLIENT_ID)
    services.start_projections()
    reads = [
        f"/verifications/{SCAN_REF}?minPosition={position}",
        f"/verifications/{SCAN_REF}",
        f"/verifications?clientId={CLIENT_ID}",
        f"/clients/{CLIENT_ID}",
    ]
    for path in reads:
        assert client.get(path, headers=bearer(API_TOKENS[role])).status_code == 200, path

    entries = services.access_log.entries(10)

    assert [(e["role"], e["what"]) for e in reversed(entries)] == [
        (role, f"GET {path}") for path in reads
    ]
    assert {e["keyId"] for e in entries} == {f"{role}:{fingerprint(API_TOKENS[role])}"}


def test_reads_by_a_backend_token_are_not_recorded(client: TestClient, services: Services) -> None:
    position = deliver_result(client, SCAN_REF, client_id=CLIENT_ID)
    services.start_projections()
    backend = bearer(API_TOKENS["backend"])

    client.get(f"/verifications/{SCAN_REF}?minPosition={position}", headers=backend)
    client.get(f"/verifications/{SCAN_REF}", headers=backend)
    client.get(f"/clients/{CLIENT_ID}", headers=backend)

    assert services.access_log.entries(10) == []
