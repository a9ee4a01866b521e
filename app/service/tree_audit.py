"""``ledger verify``'s Merkle tree check: the tree rebuilt from the events, compared
with the stored one and with a checkpoint an auditor saved (ADR 28)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.merkle_tables import UnreadableHashError, leaves_after
from adapters.signed_note import Checkpoint
from app.service.merkle_log import TreeLog
from domain import merkle

BATCH = 5_000


@dataclass
class TreeReport:
    """The tree as rebuilt from the events, and where it disagrees with what was kept."""

    events: int = 0
    root: bytes = merkle.EMPTY_ROOT
    problems: list[str] = field(default_factory=list)
    checkpoint_root: bytes | None = None
    """The rebuilt tree's hash at the checkpoint's size, when it has that many leaves."""

    @property
    def intact(self) -> bool:
        return not self.problems


def audit_tree(
    tree: TreeLog,
    checkpoint: Checkpoint | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TreeReport:
    """Rebuild the tree from every event, compare each leaf with the stored tree, and
    check that the ledger extends ``checkpoint``."""
    report = TreeReport()
    frontier = merkle.Frontier()
    position, stored_differs = 0, False
    head = tree.ledger.recorder.max_notification_id() or 0
    wanted = None if checkpoint is None else checkpoint.size
    if wanted == 0:
        report.checkpoint_root = merkle.EMPTY_ROOT
    while True:
        try:
            leaves = leaves_after(tree.ledger.recorder, tree.ledger.mapper, position, BATCH)
        except UnreadableHashError as error:
            report.problems.append(f"tree: {error}; the tree cannot be rebuilt past it")
            break
        stored = tree.tables.stored(frontier.size, len(leaves)) if leaves else []
        for number, leaf in enumerate(leaves):
            value = merkle.leaf_hash(leaf.event_hash)
            if number < len(stored) and stored[number] != (leaf.position, value):
                if not stored_differs:
                    report.problems.append(
                        f"tree: the stored leaf {frontier.size} is not the event at position"
                        f" {leaf.position}"
                    )
                stored_differs = True
            frontier.append(value)
            if frontier.size == wanted:
                report.checkpoint_root = frontier.root()
        if progress is not None and leaves:
            progress(frontier.size, max(head, leaves[-1].position))
        if len(leaves) < BATCH:
            break
        position = leaves[-1].position
    report.events, report.root = frontier.size, frontier.root()
    if checkpoint is not None:
        report.problems.extend(_against(checkpoint, report))
        if not stored_differs:
            report.problems.extend(_stored_extends(tree, checkpoint))
    return report


def _against(checkpoint: Checkpoint, report: TreeReport) -> list[str]:
    if report.events < checkpoint.size:
        return [
            f"checkpoint: the ledger holds {report.events} events, fewer than the"
            f" {checkpoint.size} of the checkpoint: events were removed"
        ]
    if report.checkpoint_root != checkpoint.root:
        return [
            f"checkpoint: the ledger's first {checkpoint.size} events are not the ones the"
            " checkpoint signed: history was rewritten"
        ]
    return []


def _stored_extends(tree: TreeLog, checkpoint: Checkpoint) -> list[str]:
    """The stored tree's own consistency proof, as a proof server would give it."""
    size = tree.size()
    if size < checkpoint.size:
        return []  # the follower is behind: nothing stored to compare yet
    proof = tree.consistency(checkpoint.size, size)
    if not merkle.verify_consistency(
        checkpoint.size, size, checkpoint.root, tree.root(size), proof
    ):
        return ["tree: the stored tree's consistency proof from the checkpoint does not hold"]
    return []
