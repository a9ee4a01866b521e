"""The ledger as one Merkle tree, shaped and hashed as RFC 9162 (section 2.1).

Its leaves are the events in ledger order; a leaf's data is the event's 32-byte
``hash`` (``domain.chain``). Every node of the RFC's tree is either a *perfect*
subtree (2^level leaves starting at a multiple of 2^level), which never changes once
complete and is stored as ``(level, index)``, or a node on the tree's right edge,
``[start, size)``, whose hash is folded from the perfect subtrees it splits into.
A proof therefore needs O(log n) stored hashes, and an append creates one stored node
per leaf on average.

Proofs are made here as lists of ranges (which subtree hashes, in the RFC's order);
the caller fetches the pieces those ranges split into and folds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}), the hash of a tree with no leaves."""

Node = tuple[int, int]
"""A perfect subtree: (level, index), covering leaves [index * 2^level, (index + 1) * 2^level)."""
Range = tuple[int, int]
"""Leaves [start, end) that are one node of the RFC's tree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def pieces(start: int, end: int) -> list[Node]:
    """The perfect subtrees a node [start, end) of the RFC's tree splits into, left to right."""
    found: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        found.append((level, start >> level))
        start += 1 << level
    return found


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a node from the hashes of its ``pieces``, folded from the right."""
    if not hashes:
        return EMPTY_ROOT
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The nodes whose hashes make PATH(index, D[size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    found: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            found.append((start + k, end))
            end = start + k
        else:
            found.append((start, start + k))
            start += k
    found.reverse()
    return found


def consistency_ranges(old: int, new: int) -> list[Range]:
    """The nodes whose hashes make PROOF(old, D[new]) (RFC 9162 2.1.4.1)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    if old in (0, new):
        return []
    found: list[Range] = []
    start, end, m, whole = 0, new, old, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            found.append((start + k, end))
            end = start + k
        else:
            found.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        found.append((start, end))
    found.reverse()
    return found


def range_hashes(
    ranges: Sequence[Range], lookup: Callable[[Sequence[Node]], Mapping[Node, bytes]]
) -> list[bytes]:
    """The hashes of ``ranges``, from the stored pieces ``lookup`` gives (one call)."""
    needed = sorted({node for start, end in ranges for node in pieces(start, end)})
    stored = lookup(needed)
    return [fold([stored[node] for node in pieces(start, end)]) for start, end in ranges]


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: whether ``leaf`` (a leaf hash) is leaf ``index`` of the tree of
    ``size`` whose hash is ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, value = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            value = node_hash(value, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and value == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether the tree of ``new`` leaves (``new_root``) extends the
    tree of ``old`` leaves (``old_root``)."""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path
    if not path:
        return False
    hashes = list(path)
    if old & (old - 1) == 0:
        hashes.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = hashes[0]
    for value in hashes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(value, first)
            second = node_hash(value, second)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, value)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first == old_root and second == new_root


class Frontier:
    """The perfect subtrees of a tree of ``size`` leaves (its pieces), to append to.

    ``append`` gives the stored nodes each new leaf completes, so that the tree is
    kept as leaves and nodes without ever reading it whole.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()):
        if len(hashes) != len(pieces(0, size)):
            raise ValueError(f"a tree of {size} leaves has {len(pieces(0, size))} pieces")
        self.size = size
        self.levels = [level for level, _ in pieces(0, size)]
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; the (level, index, hash) of every node it completes (level > 0)."""
        self.size += 1
        self.levels.append(0)
        self.hashes.append(leaf)
        made = []
        while len(self.levels) > 1 and self.levels[-1] == self.levels[-2]:
            right, left = self.hashes.pop(), self.hashes.pop()
            level = self.levels.pop() + 1
            self.levels[-1] = level
            self.hashes.append(node_hash(left, right))
            made.append((level, (self.size >> level) - 1, self.hashes[-1]))
        return made

    def root(self) -> bytes:
        return fold(self.hashes)
