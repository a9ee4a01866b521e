"""The read API over HTTP: status documents, lists, client totals, timelines, readiness."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from adapters.persistence import PostgresLocation, parse_database_url
from app.service.services import Services
from domain.reports import Kind
from tests.support.settings import API_TOKENS
from tests.support.waiting import wait_until
from tests.support.webhooks import auth, deliver_result, wait_for_views

READ_WAIT_BOUND_SECONDS = 5.0
CONTRACT_FIELDS = {
    "scanRef", "clientId", "externalRef", "status", "final", "decidedBy",
    "awaitingManualReview", "autoDocument", "autoFace", "manualDocument", "manualFace",
    "fraudTags", "mismatchTags", "attempts", "reattemptsAllowed", "reattemptsUsed",
    "reattemptsRemaining", "events", "firstEventAt", "lastEventAt", "documentExpiration",
    "rulesVersion",
}  # fmt: skip
TIMELINE_FIELDS = {
    "sequence", "kind", "receivedAt", "final", "status", "preliminary", "lateArrival",
    "supersededBy", "payloadSha256",
}  # fmt: skip


def get(
    client: TestClient, path: str, role: str | None = "backend", **params: Any
) -> httpx.Response:
    return client.get(path, params=params, headers=auth(role))


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["error"], str)
    assert response.json()["error"]


@pytest.fixture
def reads(services: Services, client: TestClient) -> TestClient:
    """The HTTP client, with the projection workers running in this process."""
    services.start_projections()
    return client


# A population of verifications, in the order of their latest activity.

POPULATION: list[tuple[str, str, Kind, dict[str, Any]]] = [
    ("pop-01", "client-a", Kind.AUTO_FINISHED, {"overall": "APPROVED"}),
    ("pop-02", "client-b", Kind.AUTO_FINISHED, {"overall": "SUSPECTED"}),
    ("pop-03", "client-a", Kind.AUTO_FINISHED, {"overall": "DENIED"}),
    ("pop-04", "client-c", Kind.AUTO_FINISHED, {"overall": "APPROVED", "final": False}),
    ("pop-05", "client-b", Kind.AUTO_FINISHED, {"overall": "SUSPECTED", "final": False}),
    ("pop-06", "client-a", Kind.MANUAL_FINISHED, {"overall": "APPROVED"}),
    ("pop-07", "client-c", Kind.CANCELLED, {"overall": "APPROVED"}),
    ("pop-08", "client-a", Kind.AUTO_FINISHED, {"overall": "SUSPECTED"}),
    ("pop-09", "client-b", Kind.AUTO_FINISHED, {"overall": "APPROVED"}),
    ("pop-10", "client-c", Kind.EXPIRED, {"overall": "EXPIRED", "finish_time": None}),
    ("pop-11", "client-a", Kind.AUTO_FINISHED, {"overall": "DENIED", "final": False}),
    ("pop-12", "client-b", Kind.AUTO_FINISHED, {"overall": "APPROVED"}),
]


@pytest.fixture
def population(services: Services, reads: TestClient) -> list[str]:
    """Twelve verifications; the scanRefs newest activity first."""
    position = 0
    for scan_ref, client_id, kind, body in POPULATION:
        position = deliver_result(reads, scan_ref, kind, client_id=client_id, **body)
    # pop-01 has news: it moves to the front.
    position = deliver_result(
        reads, "pop-01", Kind.AUTO_FINISHED, client_id="client-a", overall="APPROVED",
        finish_time=1718790000,
    )  # fmt: skip
    wait_for_views(services, position)
    return ["pop-01", *[ref for ref, *_ in reversed(POPULATION) if ref != "pop-01"]]


def listed(client: TestClient, **params: Any) -> list[str]:
    response = get(client, "/verifications", limit=500, **params)
    assert response.status_code == 200, response.text
    assert response.json()["next"] is None
    return [item["scanRef"] for item in response.json()["items"]]


def all_pages(client: TestClient, limit: int, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params} | ({"after": cursor} if cursor else {})
        response = get(client, "/verifications", **query)
        assert response.status_code == 200, response.text
        pages.append([item["scanRef"] for item in response.json()["items"]])
        cursor = response.json()["next"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


# Status documents.


def test_a_status_document_is_read_by_the_backend_auditor_and_admin_roles(
    reads: TestClient,
) -> None:
    position = deliver_result(reads, "doc-1", client_id="client-a", overall="APPROVED")

    for role in ("backend", "auditor", "admin"):
        response = get(reads, "/verifications/doc-1", role, minPosition=position)
        assert response.status_code == 200, (role, response.text)
        document = response.json()
        assert set(document) >= CONTRACT_FIELDS, CONTRACT_FIELDS - set(document)
        assert (document["scanRef"], document["clientId"], document["status"]) == (
            "doc-1",
            "client-a",
            "APPROVED",
        )
        assert document["firstEventAt"].endswith(("Z", "+00:00"))


def test_reads_without_a_token_or_with_an_unknown_token_are_401(reads: TestClient) -> None:
    deliver_result(reads, "doc-1")
    for path in (
        "/verifications/doc-1",
        "/verifications",
        "/clients/user-7f3c2a",
        "/verifications/doc-1/timeline",
    ):
        assert_json_error(reads.get(path), 401)
        assert_json_error(reads.get(path, headers={"Authorization": "Bearer not-a-token"}), 401)
        assert_json_error(reads.get(path, headers={"Authorization": API_TOKENS["admin"]}), 401)


def test_an_unknown_scan_ref_is_404_json(reads: TestClient) -> None:
    assert_json_error(get(reads, "/verifications/never-heard-of"), 404)


def test_min_position_from_a_webhook_answer_reads_your_own_write(reads: TestClient) -> None:
    steps: list[tuple[Kind, dict[str, Any], str, bool]] = [
        (Kind.AUTO_FINISHED, {"final": False, "overall": "SUSPECTED"}, "SUSPECTED", True),
        (Kind.MANUAL_FINISHED, {"final": True, "overall": "DENIED"}, "DENIED", False),
        (Kind.AUTO_FINISHED, {"overall": "APPROVED", "finish_time": 1718799999}, "APPROVED", False),
    ]  # fmt: skip
    for number, (kind, body, status, awaiting) in enumerate(steps, start=1):
        position = deliver_result(reads, "ryw-1", kind, **body)

        response = get(reads, "/verifications/ryw-1", minPosition=position)

        assert response.status_code == 200, response.text
        document = response.json()
        assert (document["events"], document["status"]) == (number, status)
        assert document["awaitingManualReview"] is awaiting


def test_min_position_from_a_registration_answer_reads_the_pending_verification(
    reads: TestClient,
) -> None:
    response = reads.post(
        "/verifications",
        json={"scanRef": "reg-1", "clientId": "client-r", "maxReattempts": 3},
        headers=auth(),
    )
    assert response.status_code == 201, response.text

    document = get(reads, "/verifications/reg-1", minPosition=response.json()["position"]).json()

    assert (document["status"], document["reattemptsAllowed"]) == ("PENDING", 3)


def test_a_min_position_the_views_do_not_reach_in_time_is_503_with_retry_after(
    services: Services, reads: TestClient
) -> None:
    position = deliver_result(reads, "far-1")
    wait_for_views(services, position)
    started = time.monotonic()

    response = get(reads, "/verifications/far-1", minPosition=position + 1_000_000)

    waited = time.monotonic() - started
    assert_json_error(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert READ_WAIT_BOUND_SECONDS - 0.5 <= waited < READ_WAIT_BOUND_SECONDS + 3


# The list.


def test_the_list_pages_through_every_verification_newest_activity_first(
    reads: TestClient, population: list[str]
) -> None:
    pages = all_pages(reads, limit=5)

    assert [len(page) for page in pages] == [5, 5, 2]
    assert [ref for page in pages for ref in page] == population
    assert all_pages(reads, limit=12) == [population]


def test_the_list_filters_by_status_finality_client_and_suspicion(
    reads: TestClient, population: list[str]
) -> None:
    def newest_first(refs: set[str]) -> list[str]:
        return [ref for ref in population if ref in refs]

    assert listed(reads, status="APPROVED") == newest_first(
        {"pop-01", "pop-04", "pop-06", "pop-09", "pop-12"}
    )
    assert listed(reads, status="CANCELED") == ["pop-07"]
    assert listed(reads, status="EXPIRED") == ["pop-10"]
    assert listed(reads, final="false") == newest_first({"pop-04", "pop-05", "pop-11"})
    assert listed(reads, final="true") == newest_first(
        set(population) - {"pop-04", "pop-05", "pop-11"}
    )
    assert listed(reads, clientId="client-c") == newest_first({"pop-04", "pop-07", "pop-10"})
    assert listed(reads, suspected="true") == newest_first({"pop-02", "pop-05", "pop-08"})
    assert listed(reads, clientId="client-b", final="true", status="APPROVED") == newest_first(
        {"pop-09", "pop-12"}
    )
    assert listed(reads, clientId="nobody") == []


def test_the_review_queue_is_the_list_of_suspected_verifications(
    reads: TestClient, population: list[str]
) -> None:
    response = get(reads, "/verifications", status="SUSPECTED")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["scanRef"] for item in items] == ["pop-08", "pop-05", "pop-02"]
    assert all(item["status"] == "SUSPECTED" for item in items)
    assert [item["awaitingManualReview"] for item in items] == [False, True, False]


def test_a_cursor_page_keeps_its_filters(reads: TestClient, population: list[str]) -> None:
    client_a = [
        ref for ref in population if ref in {"pop-01", "pop-03", "pop-06", "pop-08", "pop-11"}
    ]

    pages = all_pages(reads, limit=2, clientId="client-a")

    assert pages == [client_a[:2], client_a[2:4], client_a[4:]]


@pytest.mark.parametrize(
    "params",
    [
        {"final": "maybe"},
        {"suspected": "perhaps"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"after": "not-a-cursor!"},
        {"after": "eDEy"},  # base64 of "x12"
        {"minPosition": "soon"},
    ],
)
def test_bad_list_parameters_are_422_json(client: TestClient, params: dict[str, str]) -> None:
    assert_json_error(get(client, "/verifications", **params), 422)


# Client totals and timelines.


def test_client_totals_count_each_verification_of_the_client_once(
    reads: TestClient, population: list[str]
) -> None:
    response = get(reads, "/clients/client-a")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "clientId": "client-a",
        "verifications": 5,
        "approved": 2,
        "denied": 2,
        "suspected": 1,
        "latestScanRef": "pop-01",
    }
    assert_json_error(get(reads, "/clients/nobody"), 404)


def test_a_timeline_is_read_by_auditors_and_admins_only(
    services: Services, reads: TestClient
) -> None:
    deliver_result(
        reads, "tl-1", Kind.MANUAL_FINISHED, final=True, overall="DENIED", finish_time=50
    )
    position = deliver_result(reads, "tl-1", final=False, overall="SUSPECTED", finish_time=50)

    for role in ("auditor", "admin"):
        response = get(reads, "/verifications/tl-1/timeline", role, minPosition=position)
        assert response.status_code == 200, (role, response.text)
        body = response.json()
        assert body["scanRef"] == "tl-1"
        entries = body["entries"]
        assert [(e["sequence"], e["kind"]) for e in entries] == [
            (1, "manual-finished"),
            (2, "auto-finished"),
        ]
        assert all(set(entry) >= TIMELINE_FIELDS for entry in entries)
        assert [e["lateArrival"] for e in entries] == [False, True]
        assert [e["preliminary"] for e in entries] == [False, True]
    assert_json_error(get(reads, "/verifications/tl-1/timeline", "backend"), 403)
    assert_json_error(get(reads, "/verifications/tl-1/timeline", None), 401)
    assert_json_error(get(reads, "/verifications/unknown/timeline", "auditor"), 404)


# Readiness.


def test_readyz_reports_each_projections_lag_and_is_ready_once_caught_up(
    services: Services, reads: TestClient
) -> None:
    position = 0
    for number in range(5):
        position = deliver_result(reads, f"ready-{number}")
    wait_for_views(services, position)

    response = reads.get("/readyz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["projectionLag"] == {"current_status": 0, "reattempts": 0, "audit_timeline": 0}
    assert body["position"] == position


@contextlib.contextmanager
def store_refusing_commits(services: Services, database_url: str) -> Iterator[None]:
    """The ledger's database answers but takes no commit: on SQLite another program
    holds its write lock; on PostgreSQL the server is switched to read-only."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        holder = sqlite3.connect(path, isolation_level=None, timeout=0)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    location = parse_database_url(database_url)
    assert isinstance(location, PostgresLocation)
    with psycopg.connect(location.conninfo(), autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        admin.execute("SELECT pg_reload_conf()")
        try:
            # Sessions take the new setting at their next statement after the reload.
            with psycopg.connect(location.conninfo(), autocommit=True) as other:
                wait_until(
                    lambda: (
                        other.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
                    ),
                    10,
                    "the server did not turn read-only",
                    every=0.01,
                )
            yield
        finally:
            admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
            admin.execute("SELECT pg_reload_conf()")


def test_readyz_is_503_while_the_store_answers_but_cannot_commit(
    services: Services, reads: TestClient, database_url: str
) -> None:
    position = deliver_result(reads, "commit-1")
    wait_for_views(services, position)
    assert reads.get("/readyz").status_code == 200

    with store_refusing_commits(services, database_url):
        refused = reads.get("/readyz")

    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"]
    body = refused.json()
    assert body["ready"] is False
    assert body["store"] == "cannot commit"
    assert body["position"] == position
    assert body["projectionLag"] == {"current_status": 0, "reattempts": 0, "audit_timeline": 0}
    assert body["problem"]
    answers: list[httpx.Response] = []

    def ready_again() -> bool:
        answers.append(reads.get("/readyz"))
        return answers[-1].status_code == 200

    wait_until(ready_again, 10, lambda: answers[-1].text)
    assert answers[-1].json()["store"] == "ok"
