"""Rebuilding projections from the event store, while the old tables keep serving.

For each projection a new generation of tables is built from the whole ledger, in
large batches, then made active in one transaction, and the old tables are
dropped. An interrupted replay resumes its unfinished generation from that
generation's tracking record. The live workers notice the switch at their next
write and continue on the new tables from where the replay left them.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Tracking

from adapters.fact_codec import encode_facts
from adapters.generations import begin_build, switch_to
from adapters.sql import Sql
from adapters.views import SqlVerificationView
from app.service.ledger import Ledger
from app.service.replay_reader import MAX_REMEMBERED, fact_batches
from app.service.workers import PROJECTIONS
from projections import rules
from projections.verification_view import Fold, VerificationProjection, in_step

BATCH_SIZE = 10_000
DROP_GRACE_SECONDS = 2.0  # longer than a reader keeps its generation (0.5 s)

Progress = Callable[[int, int], None]


@dataclass
class Build:
    """One projection being rebuilt into a new generation."""

    name: str
    active: int
    generation: int
    projection: VerificationProjection[Any]
    start: int

    @property
    def view(self) -> SqlVerificationView:
        view = self.projection.view
        assert isinstance(view, SqlVerificationView)
        return view


@dataclass
class ReplaySummary:
    """What a replay did."""

    projections: list[str]
    events: int = 0
    seconds: float = 0.0
    status_changed: int | None = None
    generations: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def replay(
    ledger: Ledger,
    views: Sql,
    names: Sequence[str] = (),
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    drop_grace: float = DROP_GRACE_SECONDS,
) -> ReplaySummary:
    """Rebuild the named projections (all when none are named) from the ledger."""
    unknown = [name for name in names if name not in PROJECTIONS]
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(unknown)}")
    started = time.monotonic()
    # The replay makes millions of short-lived objects and no reference cycles; the
    # cycle collector would walk every live object again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _replay(ledger, views, names, progress, batch_size, drop_grace, started)
    finally:
        if collecting:
            gc.enable()


def _replay(
    ledger: Ledger,
    views: Sql,
    names: Sequence[str],
    progress: Progress | None,
    batch_size: int,
    drop_grace: float,
    started: float,
) -> ReplaySummary:
    builds = [_begin(views, name) for name in (names or PROJECTIONS)]
    summary = ReplaySummary(projections=[b.name for b in builds])
    position = min(b.start for b in builds)
    first = position
    head = ledger.recorder.max_notification_id() or 0
    by_name = {b.name: b for b in builds}
    folds = [
        (Fold([by_name[n].view for n in group], start, MAX_REMEMBERED), [by_name[n] for n in group])
        for start, group in in_step({b.name: b.start for b in builds}).items()
    ]
    # Built from nothing, all in step: the reader process may fold a share itself.
    fresh = [b.name for b in builds] if len(folds) == 1 and folds[0][0].start == 0 else []
    for batch in fact_batches(ledger, position, batch_size, head, fresh):
        tracking = Tracking(Ledger.name, batch.last)
        for fold, group in folds:
            states = fold.fold(batch.facts, batch.done)
            blobs = [encode_facts(state.facts) for state in states]
            for build in group if states or batch.done else ():
                build.view.save(states, tracking, blobs, batch.rows.get(build.name, ()))
        position = batch.last
        summary.events += batch.count
        head = max(head, position)
        if progress is not None:
            progress(position - first, head - first)
    for build in builds:
        build.view.create_indexes(build.generation)
        if build.name == "current_status":
            summary.status_changed = _count_changed_statuses(build)
        switch_to(views, build.name, build.generation)
        summary.generations[build.name] = build.generation
    if drop_grace:
        time.sleep(drop_grace)
    for build in builds:
        if build.active != build.generation:
            build.view.drop_tables(build.active)
    summary.seconds = time.monotonic() - started
    return summary


def _begin(views: Sql, name: str) -> Build:
    active, generation, fresh = begin_build(views, name, rules.RULES_VERSION)
    if fresh:
        # Whatever an earlier, interrupted replay left under other rules goes.
        PROJECTIONS[name].view(views, mode="build", generation=generation).drop_tables(generation)
    projection = PROJECTIONS[name].build(views, mode="build", generation=generation)
    start = projection.view.max_tracking_id(Ledger.name) or 0
    return Build(name, active, generation, projection, start)


def _count_changed_statuses(build: Build) -> int:
    """Verifications whose status or finality differs between the old and new tables."""
    view = build.view
    sql = view.sql
    new, old = view.rows_table(build.generation), view.rows_table(build.active)
    with sql.transaction(commit=False) as c:
        row = c.execute(
            f"SELECT COUNT(*) AS n FROM {new} AS n LEFT JOIN {old} AS o"
            " ON o.scan_ref = n.scan_ref"
            f" WHERE {sql.null_safe_differs('o.status', 'n.status')}"
            f" OR {sql.null_safe_differs('o.final', 'n.final')}"
        ).fetchone()
    return int(row["n"])
