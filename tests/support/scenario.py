"""A realistic scenario of deliveries, the facts the ledger holds, what the status rules
make of them and what the views say: shared by the projection, replay and worker tests."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from adapters.idenfy import decode_report
from adapters.signing import fingerprint
from adapters.status_query import Serving
from adapters.views import encode_json
from app.service.ledger import Ledger
from app.service.services import Services, Views
from domain.reports import Delivery, Kind, Receipt, Registration
from domain.verification import Verification
from projections.current_status import StatusFilter
from projections.facts import Fact, fact_of
from projections.rules import evaluate
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import API_TOKENS, SIGNING_KEYS

CATCH_UP_SECONDS = 30.0
BASE_FINISH_TIME = 1718787000
SIGNING_KEY_ID = f"#1:{fingerprint(SIGNING_KEYS[0])}"

# A realistic scenario: stories of verifications, interleaved and partly out of order.


@dataclass(frozen=True)
class Step:
    """One thing the ledger is told: a signed delivery of ``kind``, or a registration."""

    scan_ref: str
    kind: Kind | None
    body: bytes = b""
    registration: Registration | None = None


def result(
    scan_ref: str,
    client_id: str,
    kind: Kind,
    *,
    final: bool | None,
    overall: str,
    finish_time: int | None,
    fraud_tags: Sequence[str] = (),
    **extra: Any,
) -> Step:
    body = result_body(
        scan_ref,
        final=final,
        overall=overall,
        finish_time=finish_time,
        client_id=client_id,
        **extra,
    )
    body["status"]["fraudTags"] = list(fraud_tags)
    return Step(scan_ref, kind, encode(body))


def notice(scan_ref: str, client_id: str, threshold: str, date: str) -> Step:
    body = {
        "scanRef": scan_ref,
        "clientId": client_id,
        "expirationThreshold": threshold,
        "documentExpiration": date,
    }
    return Step(scan_ref, Kind.DOCUMENT_EXPIRATION, encode(body))


def registered(scan_ref: str, client_id: str, max_reattempts: int = 1) -> Step:
    registration = Registration(
        scan_ref=scan_ref,
        client_id=client_id,
        external_ref=f"onb-{scan_ref}",
        max_reattempts=max_reattempts,
    )
    return Step(scan_ref, None, registration=registration)


Story = Callable[[random.Random, str, str, int], list[Step]]


def approved(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    return [result(ref, client, Kind.AUTO_FINISHED, final=True, overall="APPROVED", finish_time=t)]


def manual_review(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    said = functools.partial(result, ref, client)
    decision = rng.choice(["APPROVED", "DENIED"])
    return [
        said(Kind.AUTO_FINISHED, final=False, overall="SUSPECTED", finish_time=t),
        said(Kind.MANUAL_FINISHED, final=True, overall=decision, finish_time=t),
    ]


def legacy(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    said = functools.partial(result, ref, client)
    decision = rng.choice(["APPROVED", "DENIED"])
    return [
        said(Kind.IDENTIFICATION, final=False, overall="SUSPECTED", finish_time=t),
        said(Kind.IDENTIFICATION, final=True, overall=decision, finish_time=t),
    ]


def reattempt(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    said = functools.partial(result, ref, client, Kind.AUTO_FINISHED, final=True)
    new_urls = {"FRONT": f"https://files.example/FRONT.png?sig={rng.random()}"}
    return [
        said(overall="DENIED", finish_time=t),
        said(overall="DENIED", finish_time=t, fileUrls=new_urls),  # a redelivery, same attempt
        said(overall="APPROVED", finish_time=t + 600),
    ]


def resubmission(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    said = functools.partial(result, ref, client)
    return [
        said(Kind.AUTO_FINISHED, final=True, overall="DENIED", finish_time=t),
        said(Kind.RESUBMITTED, final=False, overall="SUSPECTED", finish_time=t + 300),
        said(Kind.MANUAL_FINISHED, final=True, overall="APPROVED", finish_time=t + 300),
    ]


def cancelled(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    said = functools.partial(result, ref, client)
    steps = [
        said(Kind.AUTO_FINISHED, final=False, overall="APPROVED", finish_time=t),
        said(Kind.CANCELLED, final=False, overall="APPROVED", finish_time=t),
    ]
    if rng.random() < 0.5:
        steps.append(said(Kind.AUTO_FINISHED, final=True, overall="APPROVED", finish_time=t + 900))
    return steps


def expired(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    return [result(ref, client, Kind.EXPIRED, final=False, overall="EXPIRED", finish_time=None)]


def suspected(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    tags = rng.choice([(), ("AUTO_UNVERIFIABLE",)])
    overall = "SUSPECTED" if not tags else "DENIED"
    said = functools.partial(result, ref, client, Kind.AUTO_FINISHED, final=True)
    return [said(overall=overall, finish_time=t, fraud_tags=tags)]


def pending(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    return []


def document_expiring(rng: random.Random, ref: str, client: str, t: int) -> list[Step]:
    return [
        *approved(rng, ref, client, t),
        notice(ref, client, "30_DAYS_BEFORE", "2031-05-01"),
        notice(ref, client, "EXPIRED", "2031-05-01"),
    ]


STORIES: tuple[Story, ...] = (
    approved, manual_review, legacy, reattempt, resubmission, cancelled, expired, suspected,
    pending, document_expiring,
)  # fmt: skip
CLIENTS = tuple(f"client-{n}" for n in range(7))


def scenario(seed: int, count: int, prefix: str = "scan") -> list[Step]:
    """``count`` verifications' deliveries: registered or not, duplicated, out of order."""
    rng = random.Random(seed)
    stories: list[list[Step]] = []
    for number in range(count):
        ref = f"{prefix}-{seed}-{number:04d}"
        client = rng.choice(CLIENTS)
        story = STORIES[number % len(STORIES)]
        steps = story(rng, ref, client, BASE_FINISH_TIME + 1000 * number)
        if story is pending or rng.random() < 0.5:
            steps.insert(rng.randrange(len(steps) + 1), registered(ref, client, rng.randint(1, 3)))
        if steps and rng.random() < 0.3:
            steps.append(rng.choice(steps))  # a redelivery of the same bytes
        if rng.random() < 0.4:
            rng.shuffle(steps)
        stories.append(steps)
    return interleave(rng, stories)


def interleave(rng: random.Random, stories: Iterable[list[Step]]) -> list[Step]:
    queues = [list(steps) for steps in stories if steps]
    merged: list[Step] = []
    while queues:
        queue = rng.choice(queues)
        merged.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return merged


def tell(ledger: Ledger, step: Step) -> Receipt:
    """Record ``step`` straight through the service layer, as the webhook route does."""
    now = datetime.now(UTC)
    if step.registration is not None:
        return ledger.register(step.registration, now)
    assert step.kind is not None
    digest = hashlib.sha256(step.body).hexdigest()
    delivery = Delivery(step.kind, now, step.body, digest, SIGNING_KEY_ID)
    return ledger.record(delivery, decode_report(step.kind, step.body))


def send(client: TestClient, step: Step) -> dict[str, Any]:
    """Post ``step`` over HTTP: a signed webhook, or a backend registration."""
    if step.registration is not None:
        reg = step.registration
        response = client.post(
            "/verifications",
            json={
                "scanRef": reg.scan_ref,
                "clientId": reg.client_id,
                "externalRef": reg.external_ref,
                "maxReattempts": reg.max_reattempts,
            },
            headers={"Authorization": f"Bearer {API_TOKENS['backend']}"},
        )
        assert response.status_code in (200, 201), response.text
    else:
        assert step.kind is not None
        response = client.post(
            f"/webhooks/idenfy/{step.kind.value}",
            content=step.body,
            headers=signed_headers(step.body, SIGNING_KEYS[0]),
        )
        assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# What the ledger holds, what the rules make of it, and what the views say.


@dataclass
class Snapshot:
    """Every status document (newest activity first), timeline and client's totals."""

    documents: list[dict[str, Any]]
    timelines: dict[str, list[dict[str, Any]] | None]
    clients: dict[str, dict[str, Any] | None]


def head(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def ledger_facts(ledger: Ledger) -> dict[str, list[Fact]]:
    """The facts of every recorded event, read from the event store in ledger order."""
    facts: dict[str, list[Fact]] = {}
    start = 0
    while notifications := ledger.recorder.select_notifications(
        start=start, limit=500, inclusive_of_start=False
    ):
        for notification in notifications:
            event = ledger.mapper.to_domain_event(notification)
            assert isinstance(event, Verification.Event)
            facts.setdefault(event.scan_ref, []).append(fact_of(event, notification.id))
        start = notifications[-1].id
    return facts


def client_totals(documents: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """The totals of each client, added up from documents given newest first."""
    totals: dict[str, dict[str, Any] | None] = {}
    for doc in documents:
        if doc["clientId"] is None:
            continue
        found = totals.setdefault(
            doc["clientId"],
            {
                "clientId": doc["clientId"],
                "verifications": 0,
                "approved": 0,
                "denied": 0,
                "suspected": 0,
                "latestScanRef": doc["scanRef"],
            },
        )
        assert found is not None
        found["verifications"] += 1
        found["approved"] += doc["status"] == "APPROVED"
        found["denied"] += doc["status"] == "DENIED"
        found["suspected"] += bool(doc["suspected"])
    return totals


def expected(ledger: Ledger) -> Snapshot:
    """What ``evaluate`` makes of the facts the ledger holds."""
    evaluations = {ref: evaluate(ref, facts) for ref, facts in ledger_facts(ledger).items()}
    serving = Serving()  # what a read adds: deadline and overdue now, the default policy's decision
    documents = sorted(
        (serving.document(encode_json(e.document), None) for e in evaluations.values()),
        key=lambda d: d["lastPosition"],
        reverse=True,
    )
    timelines: dict[str, list[dict[str, Any]] | None] = {
        ref: e.timeline for ref, e in evaluations.items()
    }
    return Snapshot(documents, timelines, client_totals(documents))


def snapshot(views: Views) -> Snapshot:
    """What the views answer, for every verification and client they know."""
    documents = views.status.statuses(StatusFilter(), 10_000, None)
    refs = [doc["scanRef"] for doc in documents]
    clients = {doc["clientId"] for doc in documents if doc["clientId"] is not None}
    return Snapshot(
        documents,
        {ref: views.timeline.timeline(ref) for ref in refs},
        {client: views.reattempts.client(client) for client in sorted(clients)},
    )


def wait_for_views(views: Views, position: int, timeout: float = CATCH_UP_SECONDS) -> None:
    for view in views.all():
        view.wait(Ledger.name, position, timeout=timeout)


def assert_views_follow_the_rules(services: Services) -> Snapshot:
    """Wait for every view to reach the ledger's head, then compare it with ``evaluate``."""
    wait_for_views(services.views, head(services.ledger))
    seen, wanted = snapshot(services.views), expected(services.ledger)
    assert [d["scanRef"] for d in seen.documents] == [d["scanRef"] for d in wanted.documents]
    assert seen.documents == wanted.documents
    assert seen.timelines == wanted.timelines
    assert seen.clients == wanted.clients
    return seen
