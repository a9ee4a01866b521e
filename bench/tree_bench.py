"""The Merkle tree at scale (ADR 28): appends, proofs and a checkpoint over a tree of
``--leaves`` leaves (1,000,000 by default) in an SQLite ledger file.

Each figure is printed beside a ceiling measured in the same run: appends beside raw
SHA-256 of the same leaves, proofs beside a raw primary-key read of one leaf row.
Targets: proof p99 under 5 ms, a checkpoint under 1 s, at a million leaves.

    .venv/bin/python -m bench.tree_bench [--leaves N] [--proofs N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from eventsourcing.sqlite import SQLiteDatastore

from adapters.merkle_tables import Leaf, MerkleTables
from adapters.signed_note import Checkpoint, Signer
from adapters.sql import Sql
from domain import merkle

BATCH = 5_000


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def build(tables: MerkleTables, leaves: int) -> tuple[float, float]:
    """(seconds to append every leaf, seconds to only SHA-256 the same leaf data)."""
    started = time.perf_counter()
    frontier = merkle.Frontier()
    for start in range(0, leaves, BATCH):
        batch, nodes = [], []
        for n in range(start, min(start + BATCH, leaves)):
            data = hashlib.sha256(n.to_bytes(8, "big")).digest()
            leaf = merkle.leaf_hash(data)
            batch.append((Leaf(n + 1, f"s{n % 1000}", n // 1000 + 1, data), leaf))
            nodes.extend(frontier.append(leaf))
        tables.append(start, batch, nodes)
    appending = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(leaves):
        merkle.leaf_hash(hashlib.sha256(n.to_bytes(8, "big")).digest())
    return appending, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sql = Sql(SQLiteDatastore(str(Path(folder) / "tree.sqlite3")))
        tables = MerkleTables(sql)
        appending, hashing = build(tables, args.leaves)
        size = args.leaves
        proofs, reads = [], []
        chosen = random.Random(7)
        for _ in range(args.proofs):
            index = chosen.randrange(size)
            started = time.perf_counter()
            merkle.range_hashes(merkle.inclusion_ranges(index, size), tables.hashes)
            proofs.append(time.perf_counter() - started)
            started = time.perf_counter()
            tables.hashes([(0, index)])
            reads.append(time.perf_counter() - started)
        old = size // 3
        started = time.perf_counter()
        merkle.range_hashes(merkle.consistency_ranges(old, size), tables.hashes)
        consistency = time.perf_counter() - started
        signer = Signer.generate("bench/log")
        started = time.perf_counter()
        [root] = merkle.range_hashes([(0, size)], tables.hashes)
        signer.sign(Checkpoint(signer.name, size, root).text())
        checkpoint = time.perf_counter() - started
        sql.datastore.close()
    print(f"tree of {size:,} leaves (SQLite)")
    print(f"  append: {appending / size * 1e6:.1f} us/leaf; ceiling raw SHA-256"
          f" {hashing / size * 1e6:.1f} us/leaf")  # fmt: skip
    print(f"  inclusion proof p99: {p99(proofs) * 1e3:.2f} ms (target < 5 ms);"
          f" ceiling one primary-key read p99 {p99(reads) * 1e3:.3f} ms")  # fmt: skip
    print(f"  consistency proof {old:,} -> {size:,}: {consistency * 1e3:.2f} ms")
    print(f"  checkpoint (tree head + Ed25519 signature): {checkpoint * 1e3:.2f} ms"
          " (target < 1 s)")  # fmt: skip


if __name__ == "__main__":
    main()
