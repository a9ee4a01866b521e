"""The ledger's Merkle tree on each store: kept up with the ledger, proved against the
reference tree of the RFC, and checked against a saved checkpoint after someone with
write access to the database edits the events (ADR 28)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.bulk_load import EventRow
from adapters.fast_facts import read_facts
from adapters.merkle_tables import MerkleTables
from adapters.recent_rows import RecentRows
from adapters.signed_note import Checkpoint
from app.bootstrap import ledger_sql
from app.service.audit import verify_ledger
from app.service.merkle_log import NotInTreeError, TreeLog
from app.service.services import Services
from app.service.tree_audit import audit_tree
from domain import merkle
from domain.verification import Verification
from tests.support import rfc9162
from tests.support.tampering import (
    CANCELLED,
    MANUAL,
    STORY,
    EventTable,
    forged_history,
    record,
    registered,
)
from tests.support.transparency import LOG_SIGNER, event_hashes, signing_services, tree_of


@pytest.fixture
def logged(database_url: str) -> Iterator[Services]:
    """The service over each store, with a checkpoint key and the story recorded."""
    with signing_services(database_url) as services:
        record(services.ledger)
        yield services


def saved_checkpoint(services: Services) -> Checkpoint:
    return Checkpoint.open(tree_of(services).checkpoint(), LOG_SIGNER.verifier())


def test_the_tree_holds_every_event_in_ledger_order_as_the_rfcs_tree_would(
    logged: Services,
) -> None:
    tree = tree_of(logged)

    assert tree.catch_up_all() == 10
    assert tree.catch_up_all() == 0

    hashes = event_hashes(logged)
    assert tree.size() == len(hashes) == 10
    for size in range(11):
        assert tree.root(size) == rfc9162.mth(hashes[:size])


class CountingRows(RecentRows):
    """Rows kept as the projection workers keep them, counting the reads they served."""

    served = 0

    def after(self, position: int, limit: int) -> list[EventRow] | None:
        found = super().after(position, limit)
        self.served += len(found or ())
        return found


def test_a_tree_fed_the_rows_the_projections_read_is_the_tree_read_from_the_store(
    logged: Services,
) -> None:
    ledger = logged.ledger
    recent = CountingRows()
    for start in (0, 3):  # the projection workers' reads of the first 6 events, by 3
        read_facts(ledger.recorder, ledger.mapper, start, 3, keep=recent)
    fed = TreeLog(ledger, MerkleTables(ledger_sql(ledger)), recent=recent)

    assert fed.catch_up_all() == 6
    assert recent.served == 6
    assert fed.catch_up_all() == 4  # what no projection read yet: from the store
    assert recent.served == 6

    hashes = event_hashes(logged)
    for size in range(11):
        assert fed.root(size) == rfc9162.mth(hashes[:size])


def test_every_event_and_every_pair_of_sizes_has_a_proof_that_verifies(logged: Services) -> None:
    tree = tree_of(logged)
    tree.catch_up_all()
    hashes = event_hashes(logged)
    root = rfc9162.mth(hashes)

    for scan_ref in (MANUAL, CANCELLED):
        subject = str(Verification.create_id(scan_ref))
        for sequence, index, _ in tree.tables.leaves_of(subject):
            proof = tree.inclusion(subject, sequence, None)
            assert proof.hashes == rfc9162.path(index, hashes)
            assert merkle.verify_inclusion(proof.leaf_hash, index, 10, proof.hashes, root)
    for old in range(1, 11):
        for new in range(old, 11):
            proof_hashes = tree.consistency(old, new)
            assert proof_hashes == rfc9162.proof(old, hashes[:new])


def test_a_proof_of_an_event_not_yet_in_the_tree_catches_the_tree_up_first(
    logged: Services,
) -> None:
    tree = tree_of(logged)
    subject = str(Verification.create_id(CANCELLED))

    proof = tree.inclusion(subject, 2, None)

    assert proof.tree_size == 10
    with pytest.raises(NotInTreeError):
        tree.inclusion(subject, 3, None)
    with pytest.raises(NotInTreeError):
        tree.inclusion(subject, 2, 4)


def test_two_appenders_of_one_tree_never_interleave(logged: Services) -> None:
    first = tree_of(logged)
    second = TreeLog(logged.ledger, MerkleTables(ledger_sql(logged.ledger)))

    while first.catch_up(limit=3) + second.catch_up(limit=2):
        pass

    assert first.size() == 10
    assert first.root(10) == rfc9162.mth(event_hashes(logged))


def test_the_ledger_extends_a_checkpoint_saved_before_more_events_came(logged: Services) -> None:
    saved = saved_checkpoint(logged)
    record(logged.ledger, (registered("0f9e8d7c-5a7d-11ef-9c2a-0242ac120002"),))
    tree_of(logged).catch_up_all()

    report = audit_tree(tree_of(logged), saved)

    assert report.intact, report.problems
    assert (saved.size, report.events) == (10, 11)


def flip(table: EventTable, scan_ref: str, sequence: int, offset: int) -> None:
    state = bytearray(table.raw_state(scan_ref, sequence))
    state[offset % len(state)] ^= 0x01
    table.write(scan_ref, sequence, bytes(state))


@pytest.mark.parametrize("offset", [0, 37, -50, -1], ids=["first", "early", "late", "last"])
def test_a_flipped_byte_in_any_stored_event_is_found_against_a_checkpoint(
    logged: Services, database_url: str, offset: int
) -> None:
    saved = saved_checkpoint(logged)
    table = EventTable(database_url)
    hashes = event_hashes(logged)

    for scan_ref, sequence in {(s.scan_ref, 1) for s in STORY} | {(MANUAL, 3), (MANUAL, 4)}:
        original = table.raw_state(scan_ref, sequence)
        flip(table, scan_ref, sequence, offset)
        report = audit_tree(tree_of(logged), saved)

        chains = verify_ledger(logged.ledger, datetime.now(UTC))
        assert not (report.intact and chains.intact), (scan_ref, sequence)
        table.write(scan_ref, sequence, original)
    assert event_hashes(logged) == hashes


def test_a_flipped_byte_in_an_events_hash_is_found_by_the_tree_itself(
    logged: Services, database_url: str
) -> None:
    saved = saved_checkpoint(logged)
    table = EventTable(database_url)
    state = table.raw_state(MANUAL, 2)
    at = state.index(b'"hash":"') + len(b'"hash":"')
    table.write(
        MANUAL, 2, state[:at] + (b"0" if state[at : at + 1] != b"0" else b"1") + state[at + 1 :]
    )

    report = audit_tree(tree_of(logged), saved)

    assert any("history was rewritten" in problem for problem in report.problems)
    assert any("stored leaf" in problem for problem in report.problems)


def test_a_removed_event_is_found_against_a_checkpoint(logged: Services, database_url: str) -> None:
    saved = saved_checkpoint(logged)

    EventTable(database_url).delete(MANUAL, 4)  # the ledger's last event: no chain shows it

    report = audit_tree(tree_of(logged), saved)
    assert any("events were removed" in problem for problem in report.problems)


def test_a_consistently_rewritten_history_is_found_against_a_checkpoint(
    logged: Services, database_url: str
) -> None:
    saved = saved_checkpoint(logged)

    EventTable(database_url).replace_chain(logged.ledger, forged_history(STORY, MANUAL, "DENIED"))

    report = audit_tree(tree_of(logged), saved)
    assert any("history was rewritten" in problem for problem in report.problems)
