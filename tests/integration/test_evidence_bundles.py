"""Evidence bundles on each store: made from the ledger, checked with no database, and
refused when any byte of the file is changed (ADR 28)."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO

from adapters.evidence_bundle import verify
from adapters.signed_note import Signer, Verifier
from app.service.evidence import make_bundle
from tests.support.tampering import LEGACY, MANUAL, record
from tests.support.transparency import LOG_VERIFIER, signing_services, tree_of


def test_a_bundle_holds_every_event_with_its_payload_and_checks_offline(
    database_url: str,
) -> None:
    with signing_services(database_url) as services:
        record(services.ledger)
        made = make_bundle(tree_of(services), MANUAL)

    problems, summary = verify(made.data, Verifier.parse(LOG_VERIFIER))

    assert problems == []
    assert summary == {"scanRef": MANUAL, "events": 4, "treeSize": 10, "verifier": LOG_VERIFIER}
    with zipfile.ZipFile(BytesIO(made.data)) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("events.json"))
    assert names[:4] == ["README.md", "checkpoint.txt", "verifier.txt", "events.json"]
    assert [entry["sequence"] for entry in manifest["events"]] == [1, 2, 3, 4]
    assert sorted(names[4:]) == ["payloads/2.bin", "payloads/3.bin", "payloads/4.bin"]


def test_a_bundle_under_another_key_than_the_one_given_is_invalid(sqlite_url: str) -> None:
    with signing_services(sqlite_url) as services:
        record(services.ledger)
        made = make_bundle(tree_of(services), LEGACY)

    problems, _ = verify(made.data, Signer.generate("ledger.test/log").verifier())

    assert any("another verifier key" in problem for problem in problems)


def test_a_bundle_with_any_byte_changed_is_invalid(sqlite_url: str) -> None:
    with signing_services(sqlite_url) as services:
        record(services.ledger)
        data = make_bundle(tree_of(services), LEGACY).data
    assert verify(data)[0] == []

    accepted = []
    for offset in range(len(data)):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        if not verify(bytes(changed))[0]:
            accepted.append(offset)

    assert accepted == []


def test_a_bundle_of_an_erased_client_keeps_its_proofs_and_no_payload(database_url: str) -> None:
    with signing_services(database_url) as services:
        record(services.ledger)
        [client_id] = {e.client_id for e in services.ledger.history(MANUAL)} - {None}  # type: ignore[attr-defined]
        destroyed = services.retention.destroy_client_keys(
            client_id, services.clock(), "dpo", "asked by the client"
        )
        made = make_bundle(tree_of(services), MANUAL)

    problems, summary = verify(made.data, Verifier.parse(LOG_VERIFIER))

    assert destroyed
    assert problems == []
    assert summary["events"] == 4
    with zipfile.ZipFile(BytesIO(made.data)) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("events.json"))
    assert [name for name in names if name.startswith("payloads/")] == []
    assert manifest["erasedPayloads"] == [2, 3, 4]
