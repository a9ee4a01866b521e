"""The verifiable log: the ledger's Merkle tree kept up with the ledger, its proofs and
its signed checkpoints (ADR 28).

``catch_up`` appends what the ledger committed since the tree's last leaf, a batch in
one transaction; the tree follower (``app.service.tree_follower``) calls it as the
projections follow the ledger, and anything that must see the newest events (a
checkpoint on demand, a proof of a new event) calls it first. Proofs and tree heads
read O(log n) stored hashes and never a stored event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.merkle_tables import Leaf, MerkleTables, TreeMovedError, leaves_after
from adapters.recent_rows import RecentRows
from adapters.signed_note import Checkpoint, Signer
from app.service.ledger import Ledger
from domain import merkle

BATCH = 5_000
MOVED_RETRIES = 20


class NotInTreeError(LookupError):
    """The event, or the tree size asked for, is not (yet) in the tree."""


class NoSignerError(RuntimeError):
    """No checkpoint key is configured, so no checkpoint can be signed."""


@dataclass(frozen=True)
class InclusionProof:
    """PATH(leafIndex, D[treeSize]) of one event (RFC 9162 2.1.3)."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]

    def to_json(self) -> dict[str, object]:
        return {
            "leafIndex": self.leaf_index,
            "treeSize": self.tree_size,
            "leafHash": self.leaf_hash.hex(),
            "hashes": [value.hex() for value in self.hashes],
        }


class TreeLog:
    """The ledger's Merkle tree over ``tables``, and checkpoints signed by ``signer``."""

    def __init__(
        self,
        ledger: Ledger,
        tables: MerkleTables,
        signer: Signer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        recent: RecentRows | None = None,
    ):
        self.ledger = ledger
        self.tables = tables
        self.signer = signer
        self.clock = clock
        self.recent = recent
        """Rows the projection workers of this process read lately (``adapters.recent_rows``)."""
        self.lock = threading.Lock()
        self.frontier: merkle.Frontier | None = None
        self.position = 0

    def catch_up(self, limit: int = BATCH) -> int:
        """Append up to ``limit`` events the tree lacks; how many were appended."""
        with self.lock:
            for _ in range(MOVED_RETRIES):
                try:
                    return self._append(limit)
                except TreeMovedError:
                    self.frontier = None  # another process appended: read again
            raise TreeMovedError("the tree keeps moving under this appender")

    def catch_up_all(self) -> int:
        total = 0
        while (added := self.catch_up()) == BATCH:
            total += added
        return total + added

    def _append(self, limit: int) -> int:
        frontier = self.frontier
        if frontier is None:
            size, self.position = self.tables.size()
            frontier = self._frontier(size)
        recorder, mapper = self.ledger.recorder, self.ledger.mapper
        leaves = leaves_after(recorder, mapper, self.position, limit, self.recent)
        if not leaves:
            self.frontier = frontier
            return 0
        start = frontier.size
        appended = merkle.Frontier(frontier.size, frontier.hashes)
        hashed: list[tuple[Leaf, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            value = merkle.leaf_hash(leaf.event_hash)
            hashed.append((leaf, value))
            nodes.extend(appended.append(value))
        self.tables.append(start, hashed, nodes)
        self.frontier, self.position = appended, leaves[-1].position
        return len(leaves)

    def _frontier(self, size: int) -> merkle.Frontier:
        needed = merkle.pieces(0, size)
        stored = self.tables.hashes(needed)
        return merkle.Frontier(size, [stored[node] for node in needed])

    def size(self) -> int:
        return self.tables.size()[0]

    def root(self, size: int) -> bytes:
        """MTH(D[size]) of the stored tree."""
        self._check_size(size)
        [root] = (
            merkle.range_hashes([(0, size)], self.tables.hashes) if size else [merkle.EMPTY_ROOT]
        )
        return root

    def _check_size(self, size: int) -> None:
        current = self.size()
        if not 0 <= size <= current:
            raise NotInTreeError(f"the tree has {current} leaves, not {size}")

    def inclusion(self, subject: str, sequence: int, tree_size: int | None) -> InclusionProof:
        """The inclusion proof of an aggregate's event in the tree of ``tree_size`` leaves
        (the current tree when None); the tree is caught up first if it lacks the event."""
        found = self.tables.leaf_of(subject, sequence)
        if found is None:
            self.catch_up_all()
            found = self.tables.leaf_of(subject, sequence)
        if found is None:
            raise NotInTreeError(f"no event {sequence} of {subject} in the ledger")
        index, leaf = found
        size = self.size() if tree_size is None else tree_size
        self._check_size(size)
        if index >= size:
            raise NotInTreeError(f"event {sequence} is leaf {index}, not in a tree of {size}")
        ranges = merkle.inclusion_ranges(index, size)
        return InclusionProof(index, size, leaf, merkle.range_hashes(ranges, self.tables.hashes))

    def consistency(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[new]): the tree of ``new`` leaves extends the one of ``old``."""
        if old > new:
            raise NotInTreeError(f"no consistency proof from {old} back to {new}")
        self._check_size(new)
        ranges = merkle.consistency_ranges(old, new)
        return merkle.range_hashes(ranges, self.tables.hashes)

    def checkpoint(self) -> str:
        """A new checkpoint of the whole ledger, signed, kept, and returned as its note."""
        if self.signer is None:
            raise NoSignerError("no checkpoint key: set LEDGER_CHECKPOINT_KEY")
        self.catch_up_all()
        size = self.size()
        return self.publish(size)

    def publish(self, size: int) -> str:
        """The checkpoint of the tree's first ``size`` leaves, signed and kept."""
        assert self.signer is not None
        text = Checkpoint(self.signer.name, size, self.root(size)).text()
        note = self.signer.sign(text)
        key_id = str(self.signer.verifier())
        at = self.clock().isoformat().replace("+00:00", "Z")
        self.tables.save_checkpoint(size, key_id, at, note)
        return note

    def latest(self) -> str | None:
        """The note of the newest checkpoint kept, if any."""
        found = self.tables.latest_checkpoint()
        return None if found is None else str(found["note"])

    def latest_size(self) -> int | None:
        found = self.tables.latest_checkpoint()
        return None if found is None else int(found["tree_size"])
