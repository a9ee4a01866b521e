"""``ledger serve`` as a real process: killed mid-stream, stopped, restarted."""

from __future__ import annotations

import re
import subprocess
import threading
from collections import defaultdict
from dataclasses import dataclass, field

import httpx2
import pytest

from app.bootstrap import open_ledger
from app.config import load
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import CLEAN_STOP, Launcher
from tests.support.settings import SIGNING_KEYS, environment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

SCAN_REFS = tuple(f"crash-{letter}-5a7d-11ef-9c2a-0242ac120002" for letter in "abc")
SENDERS = 6
ACKS_PER_ROUND = 40
CRASHES = 3
DEADLINE_SECONDS = 20.0
KINDS = ("auto-finished", "manual-finished", "identification", "resubmitted")


@dataclass(frozen=True)
class Delivery:
    """One distinct signed webhook, as iDenfy would send (and resend) it."""

    scan_ref: str
    path: str
    raw: bytes
    headers: dict[str, str] = field(hash=False)


def delivery(number: int) -> Delivery:
    scan_ref = SCAN_REFS[number % len(SCAN_REFS)]
    body = result_body(scan_ref, final=number % 3 != 0, finish_time=1718787742 + number)
    raw = encode(body)
    kind = KINDS[number % len(KINDS)]
    headers = signed_headers(raw, SIGNING_KEYS[number % len(SIGNING_KEYS)])
    return Delivery(scan_ref, f"/webhooks/idenfy/{kind}", raw, headers)


@dataclass
class Outcomes:
    """What the senders were told, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    next_number: int = 0
    acknowledged: dict[int, int] = field(default_factory=dict)
    unanswered: set[int] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)

    def take_number(self) -> int:
        with self.lock:
            self.next_number += 1
            return self.next_number

    def acknowledged_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def send_until_the_server_dies(url: str, outcomes: Outcomes, stop: threading.Event) -> None:
    """Post new deliveries one after another until one gets no answer."""
    try:
        with httpx2.Client(base_url=url, timeout=10.0) as client:
            while not stop.is_set():
                number = outcomes.take_number()
                sent = delivery(number)
                try:
                    response = client.post(sent.path, content=sent.raw, headers=sent.headers)
                except httpx2.TransportError:
                    with outcomes.lock:
                        outcomes.unanswered.add(number)
                    return
                answer = response.json() if response.status_code == 200 else {}
                with outcomes.lock:
                    if answer.get("result") == "recorded":
                        outcomes.acknowledged[number] = answer["sequence"]
                    elif response.status_code == 503:
                        outcomes.unanswered.add(number)
                    else:
                        outcomes.unexpected.append(f"{number}: {response.status_code} {answer}")
    except Exception as error:  # a failing sender must fail the test, not warn
        with outcomes.lock:
            outcomes.unexpected.append(f"sender crashed: {error!r}")


def wait_for_acknowledgements(outcomes: Outcomes, count: int) -> None:

    def acknowledged() -> bool:
        if outcomes.acknowledged_count() >= count:
            return True
        assert not outcomes.unexpected, outcomes.unexpected
        return False

    wait_until(
        acknowledged, DEADLINE_SECONDS, f"{count} deliveries acknowledged in time", every=0.01
    )


def post_until_answered(client: httpx2.Client, sent: Delivery) -> dict[str, object]:
    """Retry like iDenfy: until the ledger answers 200."""

    def answered() -> dict[str, object] | None:
        try:
            response = client.post(sent.path, content=sent.raw, headers=sent.headers)
        except httpx2.TransportError:
            return None
        if response.status_code == 200:
            answer: dict[str, object] = response.json()
            return answer
        assert response.status_code == 503, response.text
        return None

    found = wait_until(answered, DEADLINE_SECONDS, f"{sent.path} never answered 200")
    assert found is not None
    return found


def test_every_acknowledged_delivery_survives_repeated_kills_exactly_once(
    launcher: Launcher, database_url: str
) -> None:
    env = environment(database_url)
    outcomes = Outcomes()
    for crash in range(1, CRASHES + 1):
        service = launcher.start(env)
        stop = threading.Event()
        senders = [
            threading.Thread(target=send_until_the_server_dies, args=(service.url, outcomes, stop))
            for _ in range(SENDERS)
        ]
        for sender in senders:
            sender.start()
        try:
            wait_for_acknowledgements(outcomes, crash * ACKS_PER_ROUND)
        finally:
            service.kill()
            stop.set()
            for sender in senders:
                sender.join(timeout=DEADLINE_SECONDS)
        assert not any(sender.is_alive() for sender in senders)
        assert outcomes.unexpected == []
    assert len(outcomes.unanswered) >= CRASHES, "no delivery was in flight at a kill"

    service = launcher.start(env)
    sequences: dict[str, list[int]] = defaultdict(list)
    with httpx2.Client(base_url=service.url, timeout=10.0) as client:
        for number, sequence in sorted(outcomes.acknowledged.items()):
            sent = delivery(number)
            again = client.post(sent.path, content=sent.raw, headers=sent.headers)
            assert again.json() == {
                "result": "duplicate",
                "scanRef": sent.scan_ref,
                "sequence": sequence,
            }, f"acknowledged delivery {number}"
            sequences[sent.scan_ref].append(sequence)
        for number in sorted(outcomes.unanswered):
            sent = delivery(number)
            answer = post_until_answered(client, sent)
            assert answer["result"] in ("recorded", "duplicate")
            assert answer["scanRef"] == sent.scan_ref
            assert isinstance(answer["sequence"], int)
            sequences[sent.scan_ref].append(answer["sequence"])

    ledger = open_ledger(load(env))
    try:
        for scan_ref, numbers in sequences.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), scan_ref
            verification = ledger.verification(scan_ref)
            assert verification is not None
            assert verification.version == len(numbers), scan_ref
    finally:
        ledger.close()
    assert service.stop() in CLEAN_STOP


def openssl_signature(key: str, raw: bytes) -> str:
    """``Idenfy-Signature`` as the README's shell recipe makes it, with the openssl binary."""
    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", key],
        input=raw,
        capture_output=True,
        check=True,
        timeout=10,
    )
    signature = result.stdout.decode().strip().rsplit("= ", 1)[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", signature), result.stdout
    return signature


def test_a_delivery_signed_by_openssl_is_recorded_once_and_stays_a_duplicate_after_restart(
    launcher: Launcher, database_url: str
) -> None:
    env = environment(database_url)
    raw = encode(result_body("openssl-5a7d-11ef-9c2a-0242ac120002", final=False))
    headers = {"Idenfy-Signature": openssl_signature(SIGNING_KEYS[1], raw)}
    path = "/webhooks/idenfy/auto-finished"

    service = launcher.start(env)
    first = httpx2.post(service.url + path, content=raw, headers=headers, timeout=10.0)
    assert first.status_code == 200, first.text
    assert first.json()["result"] == "recorded"
    assert service.stop() in CLEAN_STOP

    restarted = launcher.start(env)
    again = httpx2.post(restarted.url + path, content=raw, headers=headers, timeout=10.0)
    assert again.json() == {
        "result": "duplicate",
        "scanRef": "openssl-5a7d-11ef-9c2a-0242ac120002",
        "sequence": first.json()["sequence"],
    }
    assert first.json()["sequence"] == 1
    assert restarted.stop() in CLEAN_STOP
