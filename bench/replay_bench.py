"""Replay speed: `ledger replay` against a raw read-and-decode of the same store.

    .venv/bin/python -m bench.replay_bench [--stores sqlite,postgres] [--events 1000000]
                                           [--pg-events 200000] [--database-url URL]
                                           [--json PATH]

Fills a fresh ledger per store with realistic verification histories (saved in large
transactions, so filling is quick), then measures, in one run on one machine:

- the ceiling: reading every stored event in batches and decoding its JSON state
  with msgspec, doing nothing else;
- the replay: rebuilding all three projections into new tables (``app.service.replay``).

PostgreSQL comes from ``LEDGER_TEST_DATABASE_URL`` or a throwaway cluster (a fresh
``ledger_replay`` database on it); ``--database-url`` measures that one store instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from adapters.payload_migration import mark_migrated
from adapters.persistence import eventsourcing_settings, parse_database_url
from app.bootstrap import ledger_settings, open_views
from app.config import Settings
from app.service.ledger import Ledger
from app.service.replay import replay
from app.store_keys import checked
from domain.reports import Delivery, Kind, Outcome, Registration
from domain.verification import Verification

BATCH = 10_000
# Verifications per transaction when filling: PostgreSQL's pipelined inserts stall
# psycopg beyond a few hundred events (see app.service.ledger.MAX_BATCH).
PER_SAVE = {"sqlite": 500, "postgres": 50}


def history(number: int, start: datetime) -> Verification:
    """A verification with registration, a preliminary, a redelivery and a manual result."""
    scan_ref = f"bench-{number:09d}"
    at = start + timedelta(seconds=number)
    verification = Verification.start(scan_ref, at)
    verification.register(Registration(scan_ref, f"client-{number % 5000}"))
    finish = 1_718_000_000 + number
    for kind, final, overall, salt in (
        (Kind.AUTO_FINISHED, False, "SUSPECTED", "a"),
        (Kind.AUTO_FINISHED, False, "SUSPECTED", "b"),
        (Kind.MANUAL_FINISHED, True, "APPROVED", "c"),
    ):
        body = json.dumps(
            {
                "scanRef": scan_ref,
                "clientId": f"client-{number % 5000}",
                "final": final,
                "status": {"overall": overall, "mismatchTags": ["NAME"]},
                "finishTime": finish,
                "fileUrls": {"FRONT": f"https://files.example/{scan_ref}/{salt}" + "x" * 2000},
            }
        ).encode()
        delivery = Delivery(kind, at, body, hashlib.sha256(body).hexdigest(), "#1:bench")
        outcome = Outcome(
            scan_ref, f"client-{number % 5000}", None, final, overall, finish_time=finish
        )
        verification.receive(delivery, outcome)
    return verification


def fill(ledger: Ledger, events: int, per_save: int = 500) -> int:
    """Save ``events // 4`` histories of 4 events, ``per_save`` verifications at a time."""
    # Set up as ``ledger serve`` sets up a new store (marked as holding sealed payloads),
    # so that a server started on the filled ledger has nothing to migrate.
    checked(ledger)
    mark_migrated(ledger.keys.sql)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    verifications = events // 4
    for first in range(0, verifications, per_save):
        last = min(first + per_save, verifications)
        ledger.save(*(history(n, start) for n in range(first, last)))
    return verifications * 4


def flush_to_disk() -> float:
    """Write what the fill left in the page cache to disk before anything is measured,
    so that the kernel writing it back meanwhile does not slow the measurement down.
    Returns the seconds it took."""
    started = time.perf_counter()
    os.sync()
    return time.perf_counter() - started


def ceiling(ledger: Ledger) -> float:
    decoder = msgspec.json.Decoder()
    position, count = 0, 0
    started = time.perf_counter()
    while True:
        notifications = ledger.recorder.select_notifications(
            start=position, limit=BATCH, inclusive_of_start=False
        )
        if not notifications:
            break
        for notification in notifications:
            decoder.decode(notification.state)
        count += len(notifications)
        position = notifications[-1].id
    return count / (time.perf_counter() - started)


def server_version(url: str) -> str:
    """The PostgreSQL server's version, for the record."""
    import psycopg

    from adapters.persistence import PostgresLocation

    location = parse_database_url(url)
    assert isinstance(location, PostgresLocation)
    with psycopg.connect(location.conninfo()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def store_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def measure(url: str, events: int) -> dict[str, Any]:
    """Fill a fresh ledger at ``url``, then time the raw read and the replay on it."""
    store = store_of(url)
    settings = Settings(database_url=url, store=parse_database_url(url), signing_keys=("k",))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None))
    started = time.perf_counter()
    events = fill(ledger, events, PER_SAVE[store])
    filled = time.perf_counter() - started
    print(f"{store}: filled {events:,} events in {filled:.1f} s ({events / filled:,.0f}/s)")
    print(f"{store}: flushed to disk in {flush_to_disk():.1f} s")
    raw = ceiling(ledger)
    ledger.close()
    views = open_views(settings)
    replayed = Ledger(env=ledger_settings(settings))
    summary = replay(replayed, views.sql, drop_grace=0)
    replayed.close()
    views.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{store}: ceiling  raw read + msgspec decode: {raw:>10,.0f} events/s")
    print(
        f"{store}: replay   3 projections:             {summary.rate:>10,.0f} events/s"
        f"  ({summary.rate / raw:.2f} of ceiling; {events:,} events in {summary.seconds:.1f} s)"
    )
    print(f"{store}: max RSS of this process {rss:,.0f} MB")
    return {
        "events": events,
        "fill_seconds": filled,
        "ceiling_rate": raw,
        "replay_rate": summary.rate,
        "replay_seconds": summary.seconds,
        "ratio": summary.rate / raw,
        "max_rss_mb": rss,
    }


def main() -> None:
    from bench.ingest_bench import recreate_database
    from tests.support.postgres import server_url

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="SQLite ledger size")
    parser.add_argument("--pg-events", type=int, default=200_000, help="PostgreSQL ledger size")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--database-url", default="", help="measure this (empty) store only")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    results: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    with ExitStack() as stack:
        if args.database_url:
            store = store_of(args.database_url)
            results[store] = measure(args.database_url, args.events)
        for store in () if args.database_url else args.stores.split(","):
            if store == "sqlite":
                results[store] = measure(f"sqlite:///{folder / 'ledger.sqlite3'}", args.events)
            else:
                url = recreate_database(stack.enter_context(server_url()), "ledger_replay")
                results[store] = measure(url, args.pg_events)
                results[store]["server_version"] = server_version(url)
    shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
