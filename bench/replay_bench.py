"""Replay speed: `ledger replay` against a raw read-and-decode of the same store.

    .venv/bin/python -m bench.replay_bench --events 200000 [--database-url URL]

Fills a fresh ledger with realistic verification histories (saved in large
transactions, so filling is quick), then measures, in one run on one machine:

- the ceiling: reading every stored event in batches and decoding its JSON state
  with msgspec, doing nothing else;
- the replay: rebuilding all three projections into new tables (``app.replay``).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from adapters.persistence import eventsourcing_settings, parse_database_url
from app.bootstrap import ledger_settings, open_views
from app.config import Settings
from app.ledger import Ledger
from app.replay import replay
from domain.reports import Delivery, Kind, Outcome, Registration
from domain.verification import Verification

BATCH = 10_000


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
        delivery = Delivery(kind, at, body, f"{number:060d}{salt:>4}", "#1:bench")
        outcome = Outcome(
            scan_ref, f"client-{number % 5000}", None, final, overall, finish_time=finish
        )
        verification.receive(delivery, outcome)
    return verification


def fill(ledger: Ledger, events: int) -> int:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    verifications = events // 4
    for first in range(0, verifications, 500):
        ledger.save(*(history(n, start) for n in range(first, min(first + 500, verifications))))
    return verifications * 4


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'ledger.sqlite3'}"
    settings = Settings(database_url=url, store=parse_database_url(url), signing_keys=("k",))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None))
    started = time.perf_counter()
    events = fill(ledger, args.events)
    print(f"filled {events} events in {time.perf_counter() - started:.1f} s ({url})")
    raw = ceiling(ledger)
    views = open_views(settings)
    summary = replay(Ledger(env=ledger_settings(settings)), views.sql, drop_grace=0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ceiling  raw read + msgspec decode: {raw:>10,.0f} events/s")
    print(
        f"replay   3 projections:             {summary.rate:>10,.0f} events/s"
        f"  ({summary.rate / raw:.2f} of ceiling; {events} events in {summary.seconds:.1f} s)"
    )
    print(f"max RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
