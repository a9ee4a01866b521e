from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from starlette.testclient import TestClient

from adapters.idenfy import decode_report
from adapters.signing import fingerprint
from app.server import create_app
from app.service.services import Services
from domain.reports import Delivery, Kind, Receipt
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import SIGNING_KEYS

THREADS = 16
SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
T = TypeVar("T")


def all_at_once(tasks: list[Callable[[], T]]) -> list[T]:
    """Run every task in a thread of its own, released together by a barrier."""
    barrier = threading.Barrier(len(tasks), timeout=30)

    def released(task: Callable[[], T]) -> T:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        futures = [pool.submit(released, task) for task in tasks]
        return [future.result(timeout=60) for future in futures]


def delivery_body(scan_ref: str = SCAN_REF, n: int = 0) -> bytes:
    return encode(result_body(scan_ref, finish_time=1718787742 + n))


def record_directly(services: Services, raw: bytes) -> Callable[[], Receipt]:
    kind = Kind.AUTO_FINISHED
    report = decode_report(kind, raw)
    delivery = Delivery(
        kind=kind,
        received_at=datetime.now(UTC),
        payload=raw,
        payload_sha256=hashlib.sha256(raw).hexdigest(),
        signing_key=f"#1:{fingerprint(SIGNING_KEYS[0])}",
    )
    return lambda: services.ledger.record(delivery, report)


def post_over_http(client: TestClient, raw: bytes) -> Callable[[], dict[str, Any]]:
    headers = signed_headers(raw, SIGNING_KEYS[0], "IDENTIFICATION_AUTO_FINISHED")

    def post() -> dict[str, Any]:
        response = client.post("/webhooks/idenfy", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    return post


def stored(services: Services, scan_ref: str = SCAN_REF) -> list[Verification.Reported]:
    events = list(services.ledger.history(scan_ref))
    assert all(isinstance(event, Verification.Reported) for event in events)
    return [event for event in events if isinstance(event, Verification.Reported)]


@pytest.fixture
def concurrent_client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client


def test_the_same_delivery_recorded_by_many_threads_at_once_is_one_event(
    services: Services,
) -> None:
    raw = delivery_body()
    receipts = all_at_once([record_directly(services, raw) for _ in range(THREADS)])
    assert sum(not receipt.duplicate for receipt in receipts) == 1
    assert {receipt.sequence for receipt in receipts} == {1}
    [event] = stored(services)
    assert event.payload == raw


def test_the_same_delivery_posted_by_many_senders_at_once_is_recorded_once(
    services: Services, concurrent_client: TestClient
) -> None:
    raw = delivery_body()
    answers = all_at_once([post_over_http(concurrent_client, raw) for _ in range(THREADS)])
    assert Counter(answer["result"] for answer in answers) == {
        "recorded": 1,
        "duplicate": THREADS - 1,
    }
    assert {answer["sequence"] for answer in answers} == {1}
    assert len(stored(services)) == 1


def test_different_deliveries_recorded_at_once_get_contiguous_sequences(
    services: Services,
) -> None:
    bodies = [delivery_body(n=n) for n in range(THREADS)]
    receipts = all_at_once([record_directly(services, raw) for raw in bodies])
    assert not any(receipt.duplicate for receipt in receipts)
    assert sorted(receipt.sequence for receipt in receipts) == list(range(1, THREADS + 1))
    positions = [receipt.position for receipt in receipts]
    assert len(set(positions)) == THREADS
    events = stored(services)
    assert [event.originator_version for event in events] == list(range(1, THREADS + 1))
    assert sorted(event.payload for event in events) == sorted(bodies)


def test_different_deliveries_posted_at_once_get_contiguous_sequences(
    services: Services, concurrent_client: TestClient
) -> None:
    bodies = [delivery_body(n=n) for n in range(THREADS)]
    answers = all_at_once([post_over_http(concurrent_client, raw) for raw in bodies])
    assert {answer["result"] for answer in answers} == {"recorded"}
    assert sorted(answer["sequence"] for answer in answers) == list(range(1, THREADS + 1))
    events = stored(services)
    assert [event.originator_version for event in events] == list(range(1, THREADS + 1))
    by_sequence = {answer["sequence"]: raw for answer, raw in zip(answers, bodies, strict=True)}
    assert {event.originator_version: event.payload for event in events} == by_sequence


def test_a_mix_of_new_and_repeated_deliveries_over_several_scan_refs_stays_consistent(
    services: Services, concurrent_client: TestClient
) -> None:
    scan_refs = [f"mix-{n}-5a7d-11ef-9c2a-0242ac120002" for n in range(4)]
    distinct = [delivery_body(scan_ref, n) for scan_ref in scan_refs for n in range(2)]
    posted = distinct * 2  # every delivery is sent twice, at the same moment as the rest
    answers = all_at_once([post_over_http(concurrent_client, raw) for raw in posted])
    assert Counter(answer["result"] for answer in answers) == {
        "recorded": len(distinct),
        "duplicate": len(distinct),
    }
    sequence_of: dict[bytes, set[int]] = {}
    for raw, answer in zip(posted, answers, strict=True):
        sequence_of.setdefault(raw, set()).add(answer["sequence"])
    assert all(len(sequences) == 1 for sequences in sequence_of.values())
    for scan_ref in scan_refs:
        events = stored(services, scan_ref)
        assert [event.originator_version for event in events] == [1, 2]
        for event in events:
            assert sequence_of[event.payload] == {event.originator_version}
    recorded_positions = [answer["position"] for answer in answers if "position" in answer]
    notifications = services.ledger.recorder.select_notifications(start=None, limit=100)
    assert sorted(recorded_positions) == [notification.id for notification in notifications]
    assert len(notifications) == len(distinct)


def test_the_same_unusable_delivery_posted_at_once_is_quarantined_once(
    services: Services, concurrent_client: TestClient
) -> None:
    raw = encode(result_body()).replace(b'"final":true', b'"final":"yes"')
    headers = signed_headers(raw, SIGNING_KEYS[0], "IDENTIFICATION_AUTO_FINISHED")

    def post() -> tuple[int, dict[str, Any]]:
        response = concurrent_client.post("/webhooks/idenfy", content=raw, headers=headers)
        return response.status_code, response.json()

    answers = all_at_once([post for _ in range(THREADS)])
    assert {status for status, _ in answers} == {202}
    assert len({answer["id"] for _, answer in answers}) == 1
    assert services.quarantine.count() == 1
    assert services.ledger.recorder.max_notification_id() in (None, 0)
