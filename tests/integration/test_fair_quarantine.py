"""The unsigned quarantine is fair: a flood from one address cannot push out what others
sent, junk goes before what looks like iDenfy's, and a delivery signed with a key added
later is found and kept as authentic when the service starts with that key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from adapters.quarantine import Bounds, QuarantinedDelivery, SqlQuarantine
from adapters.signing import sign
from app.bootstrap import bootstrap, ledger_sql, set_up_store
from app.config import load
from app.server import create_app
from app.service.services import Services
from tests.support.idenfy import encode, result_body
from tests.support.settings import SIGNING_KEYS, environment

LATER_KEY = "a-signing-key-added-later"
START = datetime(2024, 6, 19, 9, 0, tzinfo=UTC)


def unsigned(number: int, source: str, *, plausible: bool) -> QuarantinedDelivery:
    body = encode(result_body(f"scan-{source}-{number}"))
    return QuarantinedDelivery(
        received_at=START + timedelta(seconds=number),
        cause="missing or wrong Idenfy-Signature",
        payload=body,
        payload_sha256=f"{number:064x}",
        signing_key=None,
        path_kind=None,
        event_type=f"{source}-{number}",
        signature=sign(LATER_KEY, body) if plausible else "junk",
        source=source,
        plausible=plausible,
    )


@pytest.fixture
def small(services: Services) -> SqlQuarantine:
    return SqlQuarantine(ledger_sql(services.ledger), Bounds(unsigned_count=10))


def kept_sources(quarantine: SqlQuarantine) -> dict[str, int]:
    held: dict[str, int] = {}
    for entry in quarantine.entries(1000):
        held[entry.source or ""] = held.get(entry.source or "", 0) + 1
    return held


def test_a_flood_from_one_address_pushes_out_only_its_own(small: SqlQuarantine) -> None:
    for number in range(3):
        small.put(unsigned(number, "203.0.113.9", plausible=True))
    for number in range(3, 60):
        small.put(unsigned(number, "198.51.100.66", plausible=True))

    assert kept_sources(small) == {"203.0.113.9": 3, "198.51.100.66": 7}


def test_junk_goes_before_what_looks_like_idenfys(small: SqlQuarantine) -> None:
    for number in range(4):
        small.put(unsigned(number, "203.0.113.9", plausible=True))
    for number in range(4, 10):
        small.put(unsigned(number, "203.0.113.9", plausible=False))
    for number in range(10, 40):
        small.put(unsigned(number, "203.0.113.9", plausible=False))

    kept = small.entries(1000)
    assert len(kept) == 10
    assert sum(entry.plausible for entry in kept) == 4


def test_a_delivery_signed_with_a_key_added_later_is_kept_as_authentic(
    database_url: str,
) -> None:
    first = bootstrap(load(environment(database_url)))
    body = encode(result_body("later-key-1"))
    with TestClient(create_app(first), raise_server_exceptions=False) as client:
        answer = client.post(
            "/webhooks/idenfy",
            content=body,
            headers={"Content-Type": "application/json", "Idenfy-Signature": sign(LATER_KEY, body)},
        )
    assert answer.status_code == 401
    first.close()
    keys = ",".join((*SIGNING_KEYS, LATER_KEY))
    settings = load(environment(database_url, IDENFY_SIGNING_KEYS=keys))

    prepared = set_up_store(settings)
    prepared.views.datastore.close()

    assert prepared.adopted == 1
    again = bootstrap(settings)
    try:
        [kept] = again.quarantine.entries(10)
        assert kept.authentic
        assert kept.payload == body
        assert kept.signing_key is not None
        assert kept.signing_key.startswith("#3:")
        assert set_up_store(settings).adopted == 0  # adopted once
    finally:
        again.close()


def test_a_quarantine_table_of_an_earlier_version_gets_the_new_columns(
    services: Services,
) -> None:
    sql = ledger_sql(services.ledger)
    with sql.transaction(commit=True) as c:
        c.execute(f"DROP TABLE {sql.table('ledger_quarantine')}")
        c.execute(
            f"CREATE TABLE {sql.table('ledger_quarantine')} (id TEXT PRIMARY KEY,"
            " identity TEXT UNIQUE, received_at TEXT, cause TEXT,"
            f" payload {sql.blob}, payload_sha256 TEXT, signing_key TEXT, path_kind TEXT,"
            " event_type TEXT, signature TEXT, size INTEGER, authentic INTEGER,"
            " reprocessed_at TEXT, outcome TEXT)"
        )

    quarantine = SqlQuarantine(sql, Bounds(unsigned_count=10))
    quarantine.put(unsigned(1, "203.0.113.9", plausible=True))

    [kept] = quarantine.entries(10)
    assert (kept.source, kept.plausible) == ("203.0.113.9", True)
