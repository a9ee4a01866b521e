"""The ledger's Merkle tree against RFC 9162: published vectors, and a reference tree
written from the RFC's text (``tests/support/rfc9162.py``) over random sizes."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import merkle
from tests.support import rfc9162

# The eight inputs of the Certificate Transparency test vectors (RFC 6962's tree, as
# RFC 9162 keeps it), and the tree heads of their first n, as published there.
INPUTS = [
    bytes.fromhex(text)
    for text in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                 "606162636465666768696a6b6c6d6e6f")
]  # fmt: skip
HEADS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
INCLUSION = {  # (leaf index, tree size): the path, by the first 8 hex digits of each hash
    (0, 8): ["96a296d2", "5f083f0a", "6b47aaf2"],
    (5, 8): ["bc1a0643", "ca854ea1", "d37ee418"],
    (2, 3): ["fac54203"],
    (1, 5): ["6e340b9c", "5f083f0a", "bc1a0643"],
}
CONSISTENCY = {
    (1, 8): ["96a296d2", "5f083f0a", "6b47aaf2"],
    (6, 8): ["0ebc5d34", "ca854ea1", "d37ee418"],
    (2, 5): ["5f083f0a", "bc1a0643"],
}


class StoredTree:
    """A tree kept as ``domain.merkle`` keeps it: leaf hashes and the nodes appends make."""

    def __init__(self, data: list[bytes]):
        self.frontier = merkle.Frontier()
        self.nodes: dict[merkle.Node, bytes] = {}
        for index, item in enumerate(data):
            leaf = merkle.leaf_hash(item)
            self.nodes[(0, index)] = leaf
            for level, node_index, value in self.frontier.append(leaf):
                self.nodes[(level, node_index)] = value

    def lookup(self, wanted: object) -> dict[merkle.Node, bytes]:
        assert isinstance(wanted, list)
        return {node: self.nodes[node] for node in wanted}

    def root(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.range_hashes([(0, size)], self.lookup)[0]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.range_hashes(merkle.inclusion_ranges(index, size), self.lookup)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.range_hashes(merkle.consistency_ranges(old, new), self.lookup)


def short(hashes: list[bytes]) -> list[str]:
    return [value.hex()[:8] for value in hashes]


def test_tree_heads_of_the_published_inputs_are_the_published_ones() -> None:
    tree = StoredTree(INPUTS)

    for size, head in HEADS.items():
        assert tree.root(size).hex() == head
        assert rfc9162.mth(INPUTS[:size]).hex() == head
    assert tree.frontier.root().hex() == HEADS[8]


def test_inclusion_proofs_of_the_published_inputs_are_the_published_ones() -> None:
    tree = StoredTree(INPUTS)

    for (index, size), expected in INCLUSION.items():
        hashes = tree.inclusion(index, size)
        assert short(hashes) == expected
        leaf = merkle.leaf_hash(INPUTS[index])
        assert merkle.verify_inclusion(leaf, index, size, hashes, bytes.fromhex(HEADS[size]))


def test_consistency_proofs_of_the_published_inputs_are_the_published_ones() -> None:
    tree = StoredTree(INPUTS)

    for (old, new), expected in CONSISTENCY.items():
        hashes = tree.consistency(old, new)
        assert short(hashes) == expected
        assert merkle.verify_consistency(
            old, new, bytes.fromhex(HEADS[old]), bytes.fromhex(HEADS[new]), hashes
        )


def test_appending_stores_fewer_nodes_than_leaves_and_only_complete_subtrees() -> None:
    data = [bytes([n % 256, n // 256]) for n in range(1000)]
    tree = StoredTree(data)

    inner = [node for node in tree.nodes if node[0] > 0]
    assert len(inner) == 1000 - bin(1000).count("1")
    for level, index in inner:
        assert (index + 1) << level <= 1000


def data_of(size: int) -> list[bytes]:
    return [hashlib.sha256(n.to_bytes(4, "big")).digest() for n in range(size)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_is_the_references_and_verifies(case: tuple[int, int]) -> None:
    size, index = case
    data = data_of(size)
    tree = StoredTree(data)
    root = rfc9162.mth(data)

    hashes = tree.inclusion(index, size)

    assert hashes == rfc9162.path(index, data)
    assert tree.root(size) == root
    leaf = merkle.leaf_hash(data[index])
    assert merkle.verify_inclusion(leaf, index, size, hashes, root)
    assert not merkle.verify_inclusion(leaf, index, size, hashes, hashlib.sha256(root).digest())
    if hashes:
        bent = [hashlib.sha256(hashes[0]).digest(), *hashes[1:]]
        assert not merkle.verify_inclusion(leaf, index, size, bent, root)
        assert not merkle.verify_inclusion(leaf, index, size, hashes[:-1], root)
    if size > 1:
        other = (index + 1) % size
        assert not merkle.verify_inclusion(leaf, other, size, hashes, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_every_consistency_proof_is_the_references_and_verifies(case: tuple[int, int]) -> None:
    old, new = case
    data = data_of(new)
    tree = StoredTree(data)
    old_root, new_root = rfc9162.mth(data[:old]), rfc9162.mth(data)

    hashes = tree.consistency(old, new)

    assert hashes == rfc9162.proof(old, data)
    assert merkle.verify_consistency(old, new, old_root, new_root, hashes)
    forged_old = hashlib.sha256(old_root).digest()
    assert not merkle.verify_consistency(old, new, forged_old, new_root, hashes)
    if hashes:
        assert not merkle.verify_consistency(old, new, old_root, new_root, hashes[:-1])
        bent = [*hashes[:-1], hashlib.sha256(hashes[-1]).digest()]
        assert not merkle.verify_consistency(old, new, old_root, new_root, bent)


def test_an_empty_tree_and_an_unchanged_one_are_consistent_with_no_proof() -> None:
    root = rfc9162.mth(INPUTS)

    assert merkle.verify_consistency(0, 8, merkle.EMPTY_ROOT, root, [])
    assert merkle.verify_consistency(8, 8, root, root, [])
    assert not merkle.verify_consistency(8, 8, root, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(8, 4, root, root, [])


def test_a_frontier_resumed_from_its_pieces_appends_as_the_whole_tree_would() -> None:
    data = data_of(77)
    whole = StoredTree(data)
    first = StoredTree(data[:50])
    resumed = merkle.Frontier(50, [first.nodes[node] for node in merkle.pieces(0, 50)])

    for item in data[50:]:
        resumed.append(merkle.leaf_hash(item))

    assert resumed.root() == whole.frontier.root() == rfc9162.mth(data)
