"""Many senders at once, in process and over HTTP, on many verifications: one history each.

Threads deliver an interleaved mix of distinct deliveries, repeats and registrations,
some straight into ``Ledger.record``/``Ledger.register`` (the group commit) and some
through the webhook and registration endpoints. Afterwards every distinct delivery is
stored exactly once, each verification's versions run 1..n, every answer's sequence is
the stored version of its delivery, and every recorded position is the event's own.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from adapters.idenfy import decode_report
from adapters.signing import fingerprint
from app.server import create_app
from app.service.services import Services
from domain.reports import Delivery, Kind, Registration
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS

THREADS = 24
VERIFICATIONS = 60
RESULTS_PER_VERIFICATION = 5
SENDS_OF_EACH = 2
SEED = 11
CLIENT_ID = "user-many"
KINDS = (Kind.AUTO_FINISHED, Kind.MANUAL_FINISHED, Kind.IDENTIFICATION, Kind.RESUBMITTED)
BACKEND = {"Authorization": f"Bearer {API_TOKENS['backend']}"}


@dataclass(frozen=True)
class Write:
    """One distinct thing to record: a webhook delivery, or a registration (kind None)."""

    scan_ref: str
    kind: Kind | None
    raw: bytes

    @property
    def identity(self) -> tuple[str, str | None, bytes]:
        return (self.scan_ref, None if self.kind is None else self.kind.value, self.raw)


@dataclass(frozen=True)
class Told:
    """What one send of a write was answered."""

    write: Write
    via: str
    status: int
    sequence: int
    duplicate: bool
    position: int | None


def writes() -> list[Write]:
    planned: list[Write] = []
    for number in range(VERIFICATIONS):
        scan_ref = f"many-{number:03d}-5a7d-11ef-9c2a-0242ac120002"
        planned.append(Write(scan_ref, None, scan_ref.encode()))
        for result in range(RESULTS_PER_VERIFICATION):
            body = result_body(
                scan_ref,
                client_id=CLIENT_ID,
                final=result % 2 == 1,
                finish_time=1718787742 + 600 * (result // 2),
            )
            planned.append(Write(scan_ref, KINDS[result % len(KINDS)], encode(body)))
        notice = {"scanRef": scan_ref, "clientId": CLIENT_ID, "expirationThreshold": "30"}
        planned.append(Write(scan_ref, Kind.DOCUMENT_EXPIRATION, encode(notice)))
    return planned


def registration(scan_ref: str) -> Registration:
    return Registration(scan_ref=scan_ref, client_id=CLIENT_ID, max_reattempts=2)


def send_directly(services: Services, write: Write) -> Told:
    at = datetime.now(UTC)
    if write.kind is None:
        receipt = services.ledger.register(registration(write.scan_ref), at)
    else:
        delivery = Delivery(
            kind=write.kind,
            received_at=at,
            payload=write.raw,
            payload_sha256=hashlib.sha256(write.raw).hexdigest(),
            signing_key=f"#1:{fingerprint(SIGNING_KEYS[0])}",
        )
        receipt = services.ledger.record(delivery, decode_report(write.kind, write.raw))
    return Told(write, "ledger", 200, receipt.sequence, receipt.duplicate, receipt.position)


def send_over_http(client: TestClient, write: Write) -> Told:
    if write.kind is None:
        response = client.post(
            "/verifications",
            json={"scanRef": write.scan_ref, "clientId": CLIENT_ID, "maxReattempts": 2},
            headers=BACKEND,
        )
        fresh = "registered"
    else:
        response = client.post(
            f"/webhooks/idenfy/{write.kind.value}",
            content=write.raw,
            headers=signed_headers(write.raw, SIGNING_KEYS[1]),
        )
        fresh = "recorded"
    if response.status_code >= 300:
        return Told(write, "http", response.status_code, 0, False, None)
    answer: dict[str, Any] = response.json()
    duplicate = answer["result"] != fresh
    return Told(
        write, "http", response.status_code, answer["sequence"], duplicate, answer.get("position")
    )


@pytest.fixture
def concurrent_client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client


def everything_at_once(tasks: list[Callable[[], Told]]) -> list[Told]:
    """The tasks spread over ``THREADS`` threads that start together."""
    barrier = threading.Barrier(THREADS, timeout=30)
    shares = [tasks[n::THREADS] for n in range(THREADS)]

    def run(share: list[Callable[[], Told]]) -> list[Told]:
        barrier.wait()
        return [task() for task in share]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(run, share) for share in shares]
        return [told for future in futures for told in future.result(timeout=300)]


def stored(services: Services, scan_refs: set[str]) -> dict[str, list[Verification.Event]]:
    histories: dict[str, list[Verification.Event]] = {}
    for scan_ref in scan_refs:
        events = services.ledger.history(scan_ref)
        histories[scan_ref] = [e for e in events if isinstance(e, Verification.Event)]
    return histories


def notification_ids(services: Services) -> dict[tuple[UUID, int], int]:
    """The ledger position of every stored event, by (aggregate id, version)."""
    positions: dict[tuple[UUID, int], int] = {}
    start = 0
    while notifications := services.ledger.recorder.select_notifications(
        start=start, limit=1000, inclusive_of_start=False
    ):
        for notification in notifications:
            key = (UUID(str(notification.originator_id)), notification.originator_version)
            positions[key] = notification.id
        start = notifications[-1].id
    return positions


def identity_of(event: Verification.Event) -> tuple[str, str | None, bytes]:
    if isinstance(event, Verification.Reported):
        return (event.scan_ref, event.kind, event.payload)
    assert isinstance(event, Verification.Registered)
    return (event.scan_ref, None, event.scan_ref.encode())


def test_many_senders_on_many_verifications_record_each_delivery_once_in_order(
    services: Services, concurrent_client: TestClient
) -> None:
    planned = writes()
    rng = random.Random(SEED)
    sends = [write for write in planned for _ in range(SENDS_OF_EACH)]
    rng.shuffle(sends)
    tasks: list[Callable[[], Told]] = []
    for number, write in enumerate(sends):
        if number % 2:
            tasks.append(partial(send_over_http, concurrent_client, write))
        else:
            tasks.append(partial(send_directly, services, write))
    answers = everything_at_once(tasks)

    assert len(answers) == len(sends)
    assert [told for told in answers if told.status not in (200, 201)] == []
    by_write: dict[tuple[str, str | None, bytes], list[Told]] = defaultdict(list)
    for told in answers:
        by_write[told.write.identity].append(told)
    for identity, all_told in by_write.items():
        assert sum(not t.duplicate for t in all_told) == 1, (identity[:2], all_told)
        assert len({t.sequence for t in all_told}) == 1, (identity[:2], all_told)

    histories = stored(services, {write.scan_ref for write in planned})
    positions = notification_ids(services)
    assert len(positions) == len(planned), "an event lost or doubled"
    for scan_ref, events in histories.items():
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        assert len(events) == RESULTS_PER_VERIFICATION + 2, scan_ref
    stored_at = {
        identity_of(event): (event.originator_id, event.originator_version)
        for events in histories.values()
        for event in events
    }
    assert set(stored_at) == {write.identity for write in planned}
    recorded_positions = []
    for identity, all_told in by_write.items():
        aggregate_id, version = stored_at[identity]
        assert all_told[0].sequence == version, identity[:2]
        [first] = [t for t in all_told if not t.duplicate]
        assert first.position == positions[(aggregate_id, version)], identity[:2]
        recorded_positions.append(first.position)
        assert all(t.position is None for t in all_told if t.duplicate)
    assert len(set(recorded_positions)) == len(planned)
    vias = {told.via for told in answers if not told.duplicate}
    assert vias == {"ledger", "http"}, "both paths must have recorded something"
