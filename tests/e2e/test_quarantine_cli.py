"""``ledger quarantine list|reprocess`` run as an operator would, and the quarantine's bounds."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.quarantine import Bounds, SqlQuarantine
from adapters.signing import fingerprint
from app.bootstrap import bootstrap, ledger_sql, open_ledger
from app.config import load
from app.server import create_app
from app.service.services import Services
from domain.verification import Verification
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import LEDGER, clean_environment
from tests.support.settings import SIGNING_KEYS, environment

pytestmark = pytest.mark.process

NEW_KEY = "third-signing-key-added-later"
COMMAND_SECONDS = 60.0
SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"


def ledger(
    database_url: str, *args: str, keys: tuple[str, ...] = SIGNING_KEYS
) -> subprocess.CompletedProcess[str]:
    env = environment(database_url, IDENFY_SIGNING_KEYS=",".join(keys))
    return subprocess.run(
        [str(LEDGER), *args],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def post(
    client: TestClient, raw: bytes, key: str = SIGNING_KEYS[0], event_type: str | None = None
) -> dict[str, Any]:
    response = client.post(
        "/webhooks/idenfy/auto-finished" if event_type is None else "/webhooks/idenfy",
        content=raw,
        headers=signed_headers(raw, key, event_type),
    )
    answer: dict[str, Any] = response.json()
    answer["status"] = response.status_code
    return answer


def listed(database_url: str) -> dict[str, dict[str, Any]]:
    result = ledger(database_url, "quarantine", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["id"]: row for row in rows}


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ledger: ")
    return lines[0]


def stored_kinds(services: Services, scan_ref: str = SCAN_REF) -> list[tuple[str, str]]:
    events = services.ledger.history(scan_ref)
    return [(e.kind, e.signing_key) for e in events if isinstance(e, Verification.Reported)]


def test_the_list_shows_each_quarantined_delivery_with_its_cause_and_no_payload(
    client: TestClient, services: Services, database_url: str
) -> None:
    unsigned = post(client, encode(result_body(final=False)), key=NEW_KEY)
    # A type the ledger does not model, whose body is no JSON object (else: recorded).
    unmodelled = post(client, b"[1, 2]", event_type="VIDEO_CALL_FINISHED")
    unusable = post(client, b'{"scanRef": 42, "clientId": "user-7f3c2a"}')
    assert [unsigned["status"], unmodelled["status"], unusable["status"]] == [401, 202, 202]
    [unsigned_id] = [entry.id for entry in services.quarantine.entries(10) if not entry.authentic]

    rows = listed(database_url)
    assert set(rows) == {unsigned_id, unmodelled["id"], unusable["id"]}
    assert rows[unsigned_id]["authentic"] is False
    assert rows[unsigned_id]["cause"] == "missing or wrong Idenfy-Signature"
    assert rows[unmodelled["id"]]["authentic"] is True
    assert rows[unmodelled["id"]]["eventType"] == "VIDEO_CALL_FINISHED"
    assert "VIDEO_CALL_FINISHED" in rows[unmodelled["id"]]["cause"]
    assert rows[unusable["id"]]["pathKind"] == "auto-finished"
    assert rows[unusable["id"]]["cause"].startswith("unusable auto-finished payload")
    assert all(row["reprocessedAt"] is None and row["outcome"] is None for row in rows.values())

    text = ledger(database_url, "quarantine", "list")
    assert text.returncode == 0, text.stderr
    for quarantine_id, row in rows.items():
        assert quarantine_id in text.stdout
        assert row["cause"] in text.stdout
    assert text.stdout.count("UNSIGNED") == 1
    assert text.stdout.count("waiting") == 3
    for output in (text.stdout, json.dumps(rows)):
        assert "JONAS" not in output
        assert "LT0000001" not in output
        assert "203.0.113" not in output


def test_a_delivery_signed_with_a_key_added_later_is_recorded_by_reprocessing_it(
    client: TestClient, services: Services, database_url: str
) -> None:
    raw = encode(result_body(final=False))
    refused = post(client, raw, key=NEW_KEY)
    assert refused["status"] == 401
    [kept] = services.quarantine.entries(10)
    assert stored_kinds(services) == []

    without_the_key = ledger(database_url, "quarantine", "reprocess", kept.id)
    assert "missing or wrong Idenfy-Signature" in one_line_failure(without_the_key)
    assert listed(database_url)[kept.id]["reprocessedAt"] is None

    with_the_key = ledger(
        database_url, "quarantine", "reprocess", kept.id, keys=(*SIGNING_KEYS, NEW_KEY)
    )
    assert with_the_key.returncode == 0, with_the_key.stderr
    answer = json.loads(with_the_key.stdout)
    assert answer["status"] == 200
    assert answer["result"] == "recorded"
    assert (answer["scanRef"], answer["sequence"]) == (SCAN_REF, 1)
    assert stored_kinds(services) == [("auto-finished", f"#3:{fingerprint(NEW_KEY)}")]
    row = listed(database_url)[kept.id]
    assert row["reprocessedAt"] is not None
    assert row["outcome"] == f"recorded as {SCAN_REF} #1"

    again = ledger(database_url, "quarantine", "reprocess", kept.id, keys=(*SIGNING_KEYS, NEW_KEY))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["result"] == "duplicate"
    assert json.loads(again.stdout)["sequence"] == 1
    assert len(stored_kinds(services)) == 1
    assert listed(database_url)[kept.id]["outcome"] == f"duplicate as {SCAN_REF} #1"


def test_an_unusable_authentic_delivery_stays_quarantined_when_reprocessed(
    client: TestClient, services: Services, database_url: str
) -> None:
    unusable = post(client, b'{"scanRef": "", "final": "maybe"}')
    assert unusable["status"] == 202
    result = ledger(database_url, "quarantine", "reprocess", unusable["id"])
    line = one_line_failure(result)
    assert "still quarantined" in line
    assert json.loads(result.stdout)["status"] == 202
    assert json.loads(result.stdout)["id"] == unusable["id"]
    assert services.quarantine.count() == 1
    assert listed(database_url)[unusable["id"]]["reprocessedAt"] is None


def test_reprocessing_an_unknown_id_fails_in_one_line(
    services: Services, database_url: str
) -> None:
    result = ledger(database_url, "quarantine", "reprocess", "0123456789abcdef0123456789abcdef")
    assert "no quarantined delivery" in one_line_failure(result)
    assert result.stdout == ""


# Bounds, with a quarantine built small on purpose.

UNSIGNED_KEPT = 4
AUTHENTIC_KEPT = 3


class Ticking:
    """A clock a millisecond further on at every reading, so "newest" is never a tie."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def small(database_url: str) -> Iterator[tuple[Services, TestClient]]:
    """The service over a quarantine that keeps only a handful of deliveries."""
    settings = load(environment(database_url))
    opened = open_ledger(settings)
    bounds = Bounds(
        authentic_count=AUTHENTIC_KEPT,
        authentic_bytes=1024 * 1024,
        unsigned_count=UNSIGNED_KEPT,
        unsigned_bytes=1024 * 1024,
    )
    quarantine = SqlQuarantine(ledger_sql(opened), bounds, keys=opened.keys)
    services = bootstrap(settings, ledger=opened, quarantine=quarantine, clock=Ticking())
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield services, test_client
    services.close()


def unusable_body(number: int) -> bytes:
    return f'{{"scanRef": "", "n": {number}}}'.encode()


def test_an_unsigned_flood_keeps_only_the_newest_and_never_displaces_authentic_ones(
    small: tuple[Services, TestClient],
) -> None:
    services, client = small
    kept_authentic = post(client, unusable_body(0))
    assert kept_authentic["status"] == 202
    flood = [encode(result_body(finish_time=1718787742 + n)) for n in range(30)]
    for raw in flood:
        assert post(client, raw, key="an attacker's key")["status"] == 401
    entries = services.quarantine.entries(100)
    unsigned = [entry.payload for entry in entries if not entry.authentic]
    assert unsigned == flood[::-1][:UNSIGNED_KEPT]
    assert services.quarantine.counts() == (1, UNSIGNED_KEPT)
    assert services.quarantine.get(kept_authentic["id"]) is not None


def test_unsigned_deliveries_are_also_bounded_by_their_total_size(
    database_url: str,
) -> None:
    settings = load(environment(database_url))
    opened = open_ledger(settings)
    quarantine = SqlQuarantine(
        ledger_sql(opened), Bounds(unsigned_count=1000, unsigned_bytes=10_000)
    )
    services = bootstrap(settings, ledger=opened, quarantine=quarantine, clock=Ticking())
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            for number in range(12):
                raw = b"x" * 2_000 + str(number).encode()
                response = client.post("/webhooks/idenfy", content=raw)
                assert response.status_code == 401
        entries = [entry for entry in quarantine.entries(100) if not entry.authentic]
        payloads = [entry.payload or b"" for entry in entries]
        assert sum(len(payload) for payload in payloads) <= 10_000
        assert [payload[-2:] for payload in payloads][:2] == [b"11", b"10"]
    finally:
        services.close()


def test_a_full_quarantine_refuses_new_unusable_deliveries_and_loses_nothing_acknowledged(
    small: tuple[Services, TestClient],
) -> None:
    services, client = small
    accepted = [post(client, unusable_body(n)) for n in range(AUTHENTIC_KEPT)]
    assert [answer["status"] for answer in accepted] == [202] * AUTHENTIC_KEPT

    response = client.post(
        "/webhooks/idenfy/auto-finished",
        content=unusable_body(99),
        headers=signed_headers(unusable_body(99), SIGNING_KEYS[0]),
    )
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert "error" in response.json()

    repeated = post(client, unusable_body(0))
    assert (repeated["status"], repeated["id"]) == (202, accepted[0]["id"])
    refused_unmodelled = post(client, b"[2]", event_type="VIDEO_CALL_FINISHED")
    assert refused_unmodelled["status"] == 503
    recorded = post(client, encode(result_body()))
    assert (recorded["status"], recorded["result"]) == (200, "recorded")

    assert services.quarantine.counts() == (AUTHENTIC_KEPT, 0)
    for answer in accepted:
        kept = services.quarantine.get(answer["id"])
        assert kept is not None
        assert kept.payload == unusable_body(accepted.index(answer))


def test_the_list_is_bounded_by_its_limit_newest_first(
    small: tuple[Services, TestClient], database_url: str
) -> None:
    _, client = small
    accepted = [post(client, unusable_body(n))["id"] for n in range(AUTHENTIC_KEPT)]
    result = ledger(database_url, "quarantine", "list", "--json", "--limit", "2")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == accepted[::-1][:2]
