"""An evidence bundle of one verification (``adapters.evidence_bundle``), made from the
ledger: its events with their payloads, each with an inclusion proof against a
checkpoint that covers them all (the newest kept, or a new one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters import evidence_bundle
from app.service.merkle_log import NoSignerError, NotInTreeError, TreeLog
from domain.chain import canonical
from domain.verification import Verification


@dataclass(frozen=True)
class Bundle:
    """A bundle's bytes, and the checkpoint it proves against."""

    data: bytes
    tree_size: int
    checkpoint: str


def covering_checkpoint(tree: TreeLog, last_leaf: int) -> tuple[str, str, int]:
    """(note, verifier key, tree size) of a checkpoint holding leaf ``last_leaf``."""
    latest = tree.tables.latest_checkpoint()
    if latest is not None and int(latest["tree_size"]) > last_leaf:
        return str(latest["note"]), str(latest["key_id"]), int(latest["tree_size"])
    if tree.signer is None:
        raise NoSignerError("no checkpoint covers these events yet, and no key to sign one")
    note = tree.checkpoint()
    return note, str(tree.signer.verifier()), tree.size()


def make_bundle(tree: TreeLog, scan_ref: str) -> Bundle:
    """The bundle of every event of ``scan_ref`` (NotInTreeError when it has none)."""
    aggregate_id = Verification.create_id(scan_ref)
    events = tree.ledger.history(scan_ref)
    if not events:
        raise NotInTreeError(f"no verification {scan_ref!r}")
    subject = str(aggregate_id)
    places = tree.tables.leaves_of(subject)
    if len(places) < len(events):
        tree.catch_up_all()
        places = tree.tables.leaves_of(subject)
    where = {sequence: (index, position) for sequence, index, position in places}
    last_leaf = max(index for index, _ in where.values())
    note, verifier, size = covering_checkpoint(tree, last_leaf)
    entries: list[dict[str, Any]] = []
    payloads: dict[int, bytes] = {}
    erased = {e.originator_version for e in events if getattr(e, "payload", b"") is None}
    for event in events:
        sequence = event.originator_version
        proof = tree.inclusion(subject, sequence, size)
        entries.append(
            {
                "sequence": sequence,
                "position": where[sequence][1],
                "event": type(event).__qualname__,
                "record": canonical(type(event).__qualname__, vars(event)).decode("ascii"),
                "hash": event.hash,
                "inclusion": {
                    "leafIndex": proof.leaf_index,
                    "treeSize": proof.tree_size,
                    "hashes": [value.hex() for value in proof.hashes],
                },
            }
        )
        payload = getattr(event, "payload", None)
        if isinstance(payload, bytes):
            payloads[sequence] = payload
    manifest = {
        "format": evidence_bundle.FORMAT,
        "scanRef": scan_ref,
        "treeSize": size,
        "events": entries,
    }
    if erased:  # hashes and proofs stand; these payloads' keys were destroyed
        manifest["erasedPayloads"] = sorted(erased)
    return Bundle(evidence_bundle.write(manifest, note, verifier, payloads), size, note)
