"""The ledger's Merkle tree (``domain.merkle``) and its checkpoints, in tables of their own.

Beside the events, in the ledger's database (ADR 28):

- ``ledger_tree_leaves``: one row per event in ledger order, its leaf index, position,
  aggregate and sequence, and its leaf hash; what a proof reads of an event, so that
  no proof reads or decrypts a stored event;
- ``ledger_tree_nodes``: every complete perfect subtree above the leaves, keyed by
  ``level << 48 | index``; n leaves have fewer than n of them;
- ``ledger_tree_checkpoints``: every checkpoint published, as its signed note.

The tree is derived from the events and can be rebuilt from them at any time; appends
are checked against the size they started from, so two appenders never interleave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from eventsourcing.persistence import IntegrityError, Mapper

from adapters.bulk_load import select_rows_after
from adapters.recent_rows import RecentRows
from adapters.sql import Sql
from domain.merkle import Node

LEAVES = "ledger_tree_leaves"
NODES = "ledger_tree_nodes"
CHECKPOINTS = "ledger_tree_checkpoints"
LEVEL_SHIFT = 48
LEAF_COLUMNS = (
    ("leaf_index", "BIGINT"),
    ("position", "BIGINT"),
    ("subject", "TEXT"),
    ("sequence", "BIGINT"),
    ("leaf_hash", "BLOB"),
)
NODE_COLUMNS = (("node", "BIGINT"), ("hash", "BLOB"))


def node_key(level: int, index: int) -> int:
    return (level << LEVEL_SHIFT) | index


class TreeMovedError(Exception):
    """Another process appended to the tree meanwhile; read its size again."""


class UnreadableHashError(ValueError):
    """A stored event whose ``hash`` cannot be read: the tree cannot pass it."""


@dataclass(frozen=True)
class Leaf:
    """One event as the tree sees it."""

    position: int
    subject: str
    """The aggregate's id (the verification's ``uuid5`` over its scanRef), as text."""
    sequence: int
    event_hash: bytes


class _Hashed(msgspec.Struct):
    hash: str


_hash_decoder = msgspec.json.Decoder(_Hashed)


def leaves_after(
    recorder: Any, mapper: Mapper[Any], position: int, limit: int, recent: RecentRows | None = None
) -> list[Leaf]:
    """Up to ``limit`` events after ``position``, in ledger order, as leaves: from the
    rows this process read lately (``recent``) when they hold the next ones."""
    rows = recent.after(position, limit) if recent is not None else None
    if rows is None:
        rows = select_rows_after(recorder, position, limit)
    found = []
    for at, sequence, _, state, originator in rows:
        try:
            if mapper.cipher is not None:
                state = mapper.cipher.decrypt(state)
            if mapper.compressor is not None:
                state = mapper.compressor.decompress(state)
            raw = bytes.fromhex(_hash_decoder.decode(state).hash)
        except Exception as error:
            raise UnreadableHashError(
                f"the event at position {at} has no readable hash ({type(error).__name__})"
            ) from None
        if len(raw) != 32:
            raise UnreadableHashError(f"the event at position {at} has no 32-byte hash")
        subject = originator if isinstance(originator, str) else str(originator)
        found.append(Leaf(at, _uuid_text(subject), sequence, raw))
    return found


def _uuid_text(value: str) -> str:
    """SQLite keeps ids as 32 hex digits; the tree keeps them as PostgreSQL writes them."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


class MerkleTables:
    """The tree's leaves, nodes and checkpoints in the ledger's database."""

    def __init__(self, sql: Sql):
        self.sql = sql
        self.leaves, self.nodes = sql.table(LEAVES), sql.table(NODES)
        self.checkpoints = sql.table(CHECKPOINTS)
        big, blob = sql.bigint, sql.blob
        statements = (
            f"CREATE TABLE IF NOT EXISTS {self.leaves} (leaf_index {big} PRIMARY KEY,"
            f" position {big} NOT NULL, subject TEXT NOT NULL, sequence {big} NOT NULL,"
            f" leaf_hash {blob} NOT NULL)",
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{LEAVES}_by_subject"'
            f" ON {self.leaves} (subject, sequence)",
            f"CREATE TABLE IF NOT EXISTS {self.nodes} (node {big} PRIMARY KEY,"
            f" hash {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (tree_size {big} NOT NULL,"
            " key_id TEXT NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL,"
            " PRIMARY KEY (tree_size, key_id))",
        )
        for attempt in range(2):
            try:
                with sql.transaction(commit=True) as c:
                    for statement in statements:
                        c.execute(statement)
                return
            except IntegrityError:
                if attempt:  # another process created them at the same moment
                    raise

    def size(self) -> tuple[int, int]:
        """(leaves, position of the last leaf) of the stored tree."""
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT leaf_index, position FROM {self.leaves} ORDER BY leaf_index DESC LIMIT 1"
            ).fetchone()
        return (0, 0) if row is None else (int(row["leaf_index"]) + 1, int(row["position"]))

    def hashes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """The stored hashes of ``nodes`` (level 0: leaves); a missing one is left out."""
        found: dict[Node, bytes] = {}
        leaves = [index for level, index in nodes if level == 0]
        inner = [node_key(level, index) for level, index in nodes if level > 0]
        with self.sql.reading() as c:
            if leaves:
                rows = c.execute(
                    f"SELECT leaf_index, leaf_hash FROM {self.leaves}"
                    f" WHERE leaf_index IN ({', '.join('?' * len(leaves))})",
                    leaves,
                    binary=True,
                ).fetchall()
                found.update({(0, int(r["leaf_index"])): bytes(r["leaf_hash"]) for r in rows})
            if inner:
                rows = c.execute(
                    f"SELECT node, hash FROM {self.nodes}"
                    f" WHERE node IN ({', '.join('?' * len(inner))})",
                    inner,
                    binary=True,
                ).fetchall()
                mask = (1 << LEVEL_SHIFT) - 1
                found.update(
                    {(int(r["node"]) >> LEVEL_SHIFT, int(r["node"]) & mask): bytes(r["hash"])
                     for r in rows}
                )  # fmt: skip
        return found

    def append(
        self,
        start: int,
        leaves: Sequence[tuple[Leaf, bytes]],
        nodes: Sequence[tuple[int, int, bytes]],
    ) -> None:
        """Add ``leaves`` (each with its leaf hash) from leaf index ``start``, and the
        ``nodes`` they complete, in one transaction; TreeMovedError when the tree is no
        longer ``start`` leaves long."""
        try:
            with self.sql.transaction(commit=True) as c:
                if self.sql.postgres:
                    # Derived from the events: a crash may lose the newest appends, which
                    # are made again, never leave them half made.
                    c.execute("SET LOCAL synchronous_commit = off")
                row = c.execute(
                    f"SELECT leaf_index FROM {self.leaves} ORDER BY leaf_index DESC LIMIT 1"
                ).fetchone()
                size = 0 if row is None else int(row["leaf_index"]) + 1
                if size != start:
                    raise TreeMovedError(f"the tree has {size} leaves, not {start}")
                c.insert(
                    self.leaves,
                    LEAF_COLUMNS,
                    [
                        (start + i, leaf.position, leaf.subject, leaf.sequence, hashed)
                        for i, (leaf, hashed) in enumerate(leaves)
                    ],
                )
                c.insert(
                    self.nodes,
                    NODE_COLUMNS,
                    [(node_key(level, index), value) for level, index, value in nodes],
                )
        except IntegrityError as error:
            raise TreeMovedError(str(error)) from None

    def leaf_of(self, subject: str, sequence: int) -> tuple[int, bytes] | None:
        """(leaf index, leaf hash) of an aggregate's event, when the tree has it."""
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT leaf_index, leaf_hash FROM {self.leaves}"
                " WHERE subject = ? AND sequence = ?",
                (subject, sequence),
                binary=True,
            ).fetchone()
        return None if row is None else (int(row["leaf_index"]), bytes(row["leaf_hash"]))

    def leaves_of(self, subject: str) -> list[tuple[int, int, int]]:
        """(sequence, leaf index, position) of every event of an aggregate in the tree."""
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT sequence, leaf_index, position FROM {self.leaves}"
                " WHERE subject = ? ORDER BY sequence",
                (subject,),
            ).fetchall()
        return [(int(r["sequence"]), int(r["leaf_index"]), int(r["position"])) for r in rows]

    def stored(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, leaf hash) of up to ``limit`` leaves from leaf index ``after``."""
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT position, leaf_hash FROM {self.leaves} WHERE leaf_index >= ?"
                " ORDER BY leaf_index LIMIT ?",
                (after, limit),
                binary=True,
            ).fetchall()
        return [(int(r["position"]), bytes(r["leaf_hash"])) for r in rows]

    def save_checkpoint(self, size: int, key_id: str, at: str, note: str) -> None:
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.checkpoints} (tree_size, key_id, at, note)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (tree_size, key_id) DO NOTHING",
                (size, key_id, at, note),
            )

    def latest_checkpoint(self) -> Mapping[str, Any] | None:
        """The newest checkpoint: ``{"tree_size", "key_id", "at", "note"}``."""
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT tree_size, key_id, at, note FROM {self.checkpoints}"
                " ORDER BY tree_size DESC, at DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return {name: row[name] for name in ("tree_size", "key_id", "at", "note")}
