"""The Merkle tree at scale (ADR 28): appends, proofs and a checkpoint over a tree of
``--leaves`` leaves (1,000,000 by default), on SQLite and on PostgreSQL (a throwaway cluster
unless ``LEDGER_TEST_DATABASE_URL`` names one).

Each figure is printed beside a ceiling measured in the same run: appends beside raw
SHA-256 of the same leaves, proofs beside a raw primary-key read of one leaf row.
Targets: proof p99 under 5 ms, a checkpoint under 1 s, at a million leaves.

    .venv/bin/python -m bench.tree_bench [--leaves N] [--proofs N] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from eventsourcing.sqlite import SQLiteDatastore

from adapters.durability import views_datastore
from adapters.merkle_tables import Leaf, MerkleTables
from adapters.persistence import parse_database_url
from adapters.signed_note import Checkpoint, Signer
from adapters.sql import Sql
from bench.ingest_bench import recreate_database
from domain import merkle
from tests.support.postgres import server_url

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


def measure(sql: Sql, leaves: int, proofs_wanted: int) -> dict[str, float]:
    """Every figure of one store, over a fresh tree of ``leaves`` leaves in ``sql``."""
    tables = MerkleTables(sql)
    appending, hashing = build(tables, leaves)
    proofs, reads = [], []
    chosen = random.Random(7)
    for _ in range(proofs_wanted):
        index = chosen.randrange(leaves)
        started = time.perf_counter()
        merkle.range_hashes(merkle.inclusion_ranges(index, leaves), tables.hashes)
        proofs.append(time.perf_counter() - started)
        started = time.perf_counter()
        tables.hashes([(0, index)])
        reads.append(time.perf_counter() - started)
    old = leaves // 3
    started = time.perf_counter()
    merkle.range_hashes(merkle.consistency_ranges(old, leaves), tables.hashes)
    consistency = time.perf_counter() - started
    signer = Signer.generate("bench/log")
    started = time.perf_counter()
    [root] = merkle.range_hashes([(0, leaves)], tables.hashes)
    signer.sign(Checkpoint(signer.name, leaves, root).text())
    checkpoint = time.perf_counter() - started
    return {
        "append_us": appending / leaves * 1e6,
        "sha256_us": hashing / leaves * 1e6,
        "proof_p99_ms": p99(proofs) * 1e3,
        "read_p99_ms": p99(reads) * 1e3,
        "consistency_ms": consistency * 1e3,
        "checkpoint_ms": checkpoint * 1e3,
    }


def report(store: str, leaves: int, f: dict[str, float]) -> None:
    print(f"tree of {leaves:,} leaves ({store})")
    print(f"  append: {f['append_us']:.1f} us/leaf; ceiling raw SHA-256"
          f" {f['sha256_us']:.1f} us/leaf")  # fmt: skip
    print(f"  inclusion proof p99: {f['proof_p99_ms']:.2f} ms (target < 5 ms);"
          f" ceiling one primary-key read p99 {f['read_p99_ms']:.3f} ms")  # fmt: skip
    print(f"  consistency proof {leaves // 3:,} -> {leaves:,}: {f['consistency_ms']:.2f} ms")
    print(f"  checkpoint (tree head + Ed25519 signature): {f['checkpoint_ms']:.2f} ms"
          " (target < 1 s)", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    found: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        for store in args.stores.split(","):
            if store == "sqlite":
                sql = Sql(SQLiteDatastore(str(Path(folder) / "tree.sqlite3")))
            else:
                url = recreate_database(stack.enter_context(server_url()), "ledger_tree")
                sql = Sql(views_datastore(parse_database_url(url)))
            try:
                found[store] = measure(sql, args.leaves, args.proofs)
            finally:
                sql.datastore.close()
            report(store, args.leaves, found[store])
    if args.json is not None:
        args.json.write_text(json.dumps({"leaves": args.leaves, "stores": found}, indent=2))


if __name__ == "__main__":
    main()
