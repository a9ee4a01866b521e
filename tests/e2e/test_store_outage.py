"""PostgreSQL stopped under load and started again, behind a running ``ledger serve``.

While the database is down every delivery is refused with 503 and ``Retry-After``
(never a 2xx that was not committed) and ``/readyz`` says not ready; once it is back,
the same service process records deliveries again without being restarted, and every
delivery whose sender retried until it got a 2xx is in the ledger exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx2
import pytest

from app.bootstrap import bootstrap
from app.config import load
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.postgres import Cluster, running_cluster
from tests.support.process import Launcher, RunningService
from tests.support.settings import SIGNING_KEYS, environment
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.process, pytest.mark.postgres]

SENDERS = 4
SCAN_REFS_PER_SENDER = 3
ACKS_BEFORE = 60
ACKS_AFTER = 60
REFUSALS_DURING_OUTAGE = 2
DEADLINE_SECONDS = 60.0
RETRY_PAUSE_SECONDS = 0.05


@dataclass(frozen=True)
class Answer:
    """One try of one delivery, with when it was sent and answered."""

    number: int
    sent_at: float
    answered_at: float
    status: int | None
    retry_after: str | None
    body: dict[str, object]


@dataclass
class Traffic:
    """Everything the senders sent and were told, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    next_number: int = 0
    answers: list[Answer] = field(default_factory=list)
    acknowledged: dict[int, dict[str, object]] = field(default_factory=dict)
    bodies: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def take_number(self) -> int:
        with self.lock:
            self.next_number += 1
            return self.next_number

    def count(self, status: int, since: float = 0.0) -> int:
        with self.lock:
            return sum(a.status == status and a.sent_at >= since for a in self.answers)

    def acknowledged_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def delivery(sender: int, number: int) -> tuple[str, bytes]:
    scan_ref = f"outage-{sender}-{number % SCAN_REFS_PER_SENDER}-11ef-9c2a-0242ac120002"
    body = result_body(scan_ref, final=number % 2 == 0, finish_time=1718787742 + number)
    return scan_ref, encode(body)


def send_until_told_to_stop(url: str, sender: int, traffic: Traffic, stop: threading.Event) -> None:
    """Send new deliveries, each retried until it gets a 2xx, until ``stop``."""
    try:
        with httpx2.Client(base_url=url, timeout=10.0) as client:
            while not stop.is_set():
                number = traffic.take_number()
                scan_ref, raw = delivery(sender, number)
                with traffic.lock:
                    traffic.bodies[number] = (scan_ref, raw)
                headers = signed_headers(raw, SIGNING_KEYS[number % 2])
                deadline = time.monotonic() + DEADLINE_SECONDS
                while True:
                    sent_at = time.monotonic()
                    try:
                        response: httpx2.Response | None = client.post(
                            "/webhooks/idenfy/auto-finished", content=raw, headers=headers
                        )
                    except httpx2.TransportError:
                        response = None
                    answer = Answer(
                        number,
                        sent_at,
                        time.monotonic(),
                        None if response is None else response.status_code,
                        None if response is None else response.headers.get("retry-after"),
                        {} if response is None else response.json(),
                    )
                    with traffic.lock:
                        traffic.answers.append(answer)
                    if answer.status is not None and 200 <= answer.status < 300:
                        with traffic.lock:
                            traffic.acknowledged[number] = answer.body
                        break
                    if answer.status not in (None, 503):
                        with traffic.lock:
                            traffic.problems.append(f"{number}: {answer.status} {answer.body}")
                        return
                    if time.monotonic() > deadline:
                        with traffic.lock:
                            traffic.problems.append(f"{number}: never acknowledged")
                        return
                    time.sleep(RETRY_PAUSE_SECONDS)
    except Exception as error:  # a failing sender must fail the test, not warn
        with traffic.lock:
            traffic.problems.append(f"sender {sender} crashed: {error!r}")


def poll(description: str, predicate: Callable[[], bool], traffic: Traffic) -> None:
    """Wait, with a deadline, until ``predicate()`` is true; fail early on a problem."""

    def came_true() -> bool:
        if predicate():
            return True
        with traffic.lock:
            assert not traffic.problems, traffic.problems
        return False

    wait_until(came_true, DEADLINE_SECONDS, description, every=0.02)


def readyz(service: RunningService) -> int | None:
    try:
        return httpx2.get(f"{service.url}/readyz", timeout=10.0).status_code
    except httpx2.TransportError:
        return None


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with running_cluster() as dedicated:
        yield dedicated


def test_a_database_outage_refuses_deliveries_until_it_ends_and_loses_none(
    cluster: Cluster, launcher: Launcher
) -> None:
    env = environment(cluster.url())
    service = launcher.start(env)
    traffic, stop = Traffic(), threading.Event()
    senders = [
        threading.Thread(target=send_until_told_to_stop, args=(service.url, n, traffic, stop))
        for n in range(SENDERS)
    ]
    for sender in senders:
        sender.start()
    try:
        poll("acks before", lambda: traffic.acknowledged_count() >= ACKS_BEFORE, traffic)
        cluster.stop()
        down_at = time.monotonic()
        poll("503s", lambda: traffic.count(503, since=down_at) >= REFUSALS_DURING_OUTAGE, traffic)
        poll("/readyz 503", lambda: readyz(service) == 503, traffic)
        acknowledged_during_outage = traffic.acknowledged_count()
        up_at = time.monotonic()
        cluster.start()
        poll(
            "acks after",
            lambda: traffic.acknowledged_count() >= acknowledged_during_outage + ACKS_AFTER,
            traffic,
        )
        poll("/readyz 200", lambda: readyz(service) == 200, traffic)
    finally:
        stop.set()
        for sender in senders:
            sender.join(timeout=DEADLINE_SECONDS)
    assert not any(sender.is_alive() for sender in senders)
    assert traffic.problems == []
    assert service.process.poll() is None, "the service had to be restarted"

    during = [a for a in traffic.answers if a.sent_at >= down_at and a.answered_at <= up_at]
    assert during, "no delivery was tried during the outage"
    assert Counter(a.status for a in during).keys() <= {503, None}, "a 2xx while the store was down"
    assert all(a.retry_after and int(a.retry_after) > 0 for a in during if a.status == 503)
    refused = {a.number for a in traffic.answers if a.status == 503}
    assert refused & traffic.acknowledged.keys(), "no refused delivery was acknowledged later"
    tries = Counter(a.number for a in traffic.answers)
    for number, answer in traffic.acknowledged.items():
        # Only a retry can find its delivery committed already (its first answer was lost).
        assert answer["result"] == "recorded" or tries[number] > 1, (number, answer)

    assert traffic.acknowledged.keys() == traffic.bodies.keys()
    services = bootstrap(load(env), create_tables=False)
    try:
        stored: Counter[bytes] = Counter()
        for scan_ref in {ref for ref, _ in traffic.bodies.values()}:
            events = [
                event
                for event in services.ledger.history(scan_ref)
                if isinstance(event, Verification.Reported)
            ]
            assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
            for event in events:
                stored[event.payload] += 1
            for number, (ref, raw) in traffic.bodies.items():
                if ref == scan_ref:
                    answer = traffic.acknowledged[number]
                    assert answer["scanRef"] == scan_ref
                    assert isinstance(answer["sequence"], int)
                    assert events[answer["sequence"] - 1].payload == raw
        assert stored == Counter(raw for _, raw in traffic.bodies.values())
    finally:
        services.close()
