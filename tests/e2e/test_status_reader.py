"""The fast status read: straight from the view, with the threaded read behind it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from eventsourcing.persistence import PersistenceError
from starlette.testclient import TestClient

from adapters.persistence import PostgresLocation
from adapters.status_reader import PostgresStatusReader, ReadFailedError, StatusReader
from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from app.service.replay import replay
from app.service.services import Services
from tests.support.settings import environment
from tests.support.waiting import poll_until
from tests.support.webhooks import auth, deliver_result, wait_for_views


class CountingReader:
    """Wraps the app's reader, counting the reads it answered and optionally failing."""

    def __init__(self, inner: StatusReader, fail: bool = False):
        self.inner = inner
        self.fail = fail
        self.answered = 0

    async def document(self, scan_ref: str) -> bytes | None:
        if self.fail:
            raise ReadFailedError("made to fail")
        found = await self.inner.document(scan_ref)
        self.answered += 1
        return found

    async def close(self) -> None:
        await self.inner.close()


def swap_reader(client: TestClient, fail: bool = False) -> CountingReader:
    app: Any = client.app
    reader = CountingReader(app.status_read.reader, fail=fail)
    app.status_read.reader = reader
    return reader


@pytest.fixture
def reads(services: Services, client: TestClient) -> TestClient:
    services.start_projections()
    return client


def test_a_plain_read_is_answered_by_the_fast_reader_with_the_threaded_document(
    reads: TestClient, services: Services
) -> None:
    wait_for_views(services, deliver_result(reads, "fast-1", overall="APPROVED"))
    reader = swap_reader(reads)

    fast = reads.get("/verifications/fast-1", headers=auth())
    threaded = reads.get("/verifications/fast-1", params={"minPosition": 0}, headers=auth())

    assert reader.answered == 1
    assert fast.status_code == threaded.status_code == 200
    assert fast.headers["content-type"] == "application/json"
    assert fast.json() == threaded.json()
    assert fast.json()["scanRef"] == "fast-1"
    assert fast.json()["status"] == "APPROVED"


def test_an_unknown_verification_is_a_404_on_the_fast_path(reads: TestClient) -> None:
    reader = swap_reader(reads)
    response = reads.get("/verifications/never-seen", headers=auth())
    assert reader.answered == 1
    assert response.status_code == 404
    assert "never-seen" in response.json()["error"]


def test_reads_with_a_query_or_nul_take_the_threaded_path(
    reads: TestClient, services: Services
) -> None:
    wait_for_views(services, deliver_result(reads, "fast-2"))
    reader = swap_reader(reads)
    assert reads.get("/verifications/fast-2?minPosition=1", headers=auth()).status_code == 200
    assert reads.get("/verifications/fast-2%00", headers=auth()).status_code == 404
    assert reader.answered == 0


def test_a_failing_fast_reader_falls_back_to_the_threaded_read(
    reads: TestClient, services: Services
) -> None:
    wait_for_views(services, deliver_result(reads, "fast-3", overall="DENIED"))
    swap_reader(reads, fail=True)
    response = reads.get("/verifications/fast-3", headers=auth())
    assert response.status_code == 200
    assert response.json()["status"] == "DENIED"
    assert reads.get("/verifications/nothing", headers=auth()).status_code == 404


def test_authentication_comes_before_the_fast_read(reads: TestClient) -> None:
    reader = swap_reader(reads)
    assert reads.get("/verifications/x").status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert reads.get("/verifications/x", headers=wrong).status_code == 401
    assert reader.answered == 0


def test_the_fast_reader_follows_a_replay_to_the_new_tables(
    reads: TestClient, services: Services
) -> None:
    wait_for_views(services, deliver_result(reads, "fast-4", overall="APPROVED"))
    reader = swap_reader(reads)
    before = reads.get("/verifications/fast-4", headers=auth())
    assert reader.answered == 1
    inner: Any = reader.inner
    assert inner.generations.table is not None
    assert "current_status_g1" in inner.generations.table

    replay(services.ledger, services.views.sql, drop_grace=0)

    # The old tables are gone. A read that finds them gone is answered the threaded way
    # and makes the reader look up the active tables again.

    def answered_three() -> bool:
        if reader.answered >= 3:
            return True
        after = reads.get("/verifications/fast-4", headers=auth())
        assert after.status_code == 200
        assert after.json() == before.json()
        return False

    poll_until(answered_three, 10, every=0)
    assert reader.answered >= 3
    assert "current_status_g2" in inner.generations.table


@pytest.mark.postgres
def test_the_postgres_reader_answers_only_on_the_event_loop_that_opened_it(
    postgres_url: str,
) -> None:
    built = bootstrap(load(environment(postgres_url)))
    try:
        built.start_projections()
        with TestClient(create_app(built), raise_server_exceptions=False) as client:
            wait_for_views(built, deliver_result(client, "fast-5", overall="APPROVED"))
        location = built.settings.store
        assert isinstance(location, PostgresLocation)
        reader = PostgresStatusReader(location)

        async def read() -> bytes | None:
            return await reader.document("fast-5")

        loop = asyncio.new_event_loop()
        try:
            found = loop.run_until_complete(read())
            assert found is not None
            assert b'"APPROVED"' in found
            with pytest.raises(ReadFailedError, match="another event loop"):
                asyncio.run(read())
        finally:
            loop.run_until_complete(reader.close())
            loop.close()
    finally:
        built.close()


def test_a_plain_read_answers_json_errors_and_carries_a_request_id(
    reads: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_for_views(services, deliver_result(reads, "fast-6"))
    swap_reader(reads, fail=True)

    def unavailable(scan_ref: str) -> None:
        raise PersistenceError("the views are gone")

    monkeypatch.setattr(services.views.status, "status", unavailable)
    response = reads.get("/verifications/fast-6", headers={**auth(), "X-Request-Id": "req-7"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["x-request-id"] == "req-7"
    assert response.json() == {"error": "the views cannot be read right now"}

    missing = reads.get("/verifications/fast-6")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/json"
    assert "Bearer" in missing.json()["error"]


def test_an_unexpected_failure_of_a_plain_read_is_a_json_500(
    reads: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        async def document(self, scan_ref: str) -> bytes | None:
            raise RuntimeError("a bug")

    app: Any = reads.app
    monkeypatch.setattr(app.status_read, "reader", Broken())
    response = reads.get("/verifications/anything", headers=auth())
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
