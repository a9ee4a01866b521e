"""Projection workers: the views follow the ledger, a batch at a time.

One thread runs every projection this process leads (ADR 12). Each pass reads what
the ledger recorded past the views' tracking positions, up to ``BATCH_LIMIT`` events,
turns them into facts once, folds them into the new states of the verifications
they touch (``projections.verification_view.Fold``, as the replay does), and writes
every view's rows with its tracking record in one transaction: a crash in the middle
of a batch redoes the batch, never half of it. With nothing new it sleeps until the
ledger has news (``adapters.subscription``).

A replay that switched a projection to new tables makes the next write fail with
``GenerationChangedError``; the worker then opens the active tables and resumes from
their tracking record. A standby process tries for the leads it lacks every second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking

from adapters.fact_codec import encode_facts
from adapters.fast_facts import read_facts
from adapters.generations import GenerationChangedError
from adapters.leadership import Leadership
from adapters.recent_rows import RecentRows
from adapters.sql import Sql
from adapters.subscription import READERS_SECONDS, LedgerNews, linger_seconds, poll_seconds
from adapters.view_tables import (
    SqlAuditTimelineView,
    SqlCurrentStatusView,
    SqlReattemptsView,
)
from adapters.view_writes import Write, write_together
from adapters.views import SqlVerificationView
from adapters.wakeups import PROJECTED, Flag
from app.service.ledger import Ledger
from projections.audit_timeline import AuditTimelineProjection
from projections.current_status import CurrentStatusProjection
from projections.reattempts import ReattemptsProjection
from projections.verification_view import Fold, VerificationProjection, in_step

log = logging.getLogger("ledger.projections")

# Events read and written in one transaction at most.
BATCH_LIMIT = 2_000
RESTART_DELAY_SECONDS = 1.0
# How often the leads are checked, and a standby tries for the ones it lacks.
LEAD_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class ProjectionSpec:
    """A projection and the SQL view it writes."""

    name: str
    projection: type[VerificationProjection[Any]]
    view: type[SqlVerificationView]

    def build(self, sql: Sql, **kwargs: Any) -> VerificationProjection[Any]:
        return self.projection(view=self.view(sql, **kwargs))


PROJECTIONS: dict[str, ProjectionSpec] = {
    spec.name: spec
    for spec in (
        ProjectionSpec("current_status", CurrentStatusProjection, SqlCurrentStatusView),
        ProjectionSpec("reattempts", ReattemptsProjection, SqlReattemptsView),
        ProjectionSpec("audit_timeline", AuditTimelineProjection, SqlAuditTimelineView),
    )
}


class Projector:
    """The live views of the projections this process leads, and where each has got."""

    def __init__(self, ledger: Ledger, sql: Sql, names: set[str], recent: RecentRows | None = None):
        self.ledger = ledger
        self.sql = sql
        self.recent = recent
        self.views = {name: PROJECTIONS[name].view(sql, mode="live") for name in sorted(names)}
        self.positions = {
            name: view.max_tracking_id(Ledger.name) or 0 for name, view in self.views.items()
        }

    def step(self, limit: int = BATCH_LIMIT) -> int:
        """Project the next batch of up to ``limit`` events; how many were read."""
        start = min(self.positions.values())
        recorder, mapper = self.ledger.recorder, self.ledger.mapper
        facts, last, count = read_facts(recorder, mapper, start, limit, self.recent)
        if not count:
            return 0
        writes: list[Write] = []
        for position, names in in_step(self.positions).items():
            views = [self.views[name] for name in names]
            states = Fold(views, position).fold(facts)
            blobs = [encode_facts(state.facts) for state in states]
            writes.extend((view, states, blobs, ()) for view in views)
        tracking = Tracking(Ledger.name, last)
        with self.sql.pipelined_transaction() as c:
            if self.sql.postgres:
                # Views are rebuilt from the ledger at will: a crash may lose the newest
                # batches (they are projected again), never make them inconsistent.
                c.execute("SET LOCAL synchronous_commit = off")
            write_together(c, writes, tracking)
        for name in self.positions:
            self.positions[name] = last
        PROJECTED.announce()
        return count

    def current(self) -> bool:
        """Whether every view is still on the active tables of its projection."""
        return all(view.is_current() for view in self.views.values())

    def moved(self, error: Exception) -> bool:
        """Whether ``error`` came of a replay's switch to new tables (then, a new
        projector goes on from the new tables' tracking records)."""
        if not isinstance(error, GenerationChangedError):
            # A replay may have dropped the tables the batch was reading.
            try:
                if self.current():
                    return False
            except Exception:
                return False
        log.info("projections moved to new tables; following them")
        return True


class ProjectionWorkers:
    """The projections ``names``, run in one thread while this process leads them,
    until ``stop()``."""

    def __init__(
        self,
        ledger_settings: Mapping[str, str],
        views: Sql,
        leadership: Callable[[str], Leadership],
        names: tuple[str, ...] = tuple(PROJECTIONS),
        batch_limit: int = BATCH_LIMIT,
        recent: RecentRows | None = None,
    ):
        self.ledger_settings = dict(ledger_settings)
        self.recent = recent
        self.views = views
        self.names = names
        self.batch_limit = batch_limit
        self.leads = {name: leadership(name) for name in names}
        self.leading: set[str] = set()
        self.stopping = threading.Event()
        self.wakeup = threading.Event()
        self.hurry = Flag()
        self.thread = threading.Thread(target=self._supervise, name="projections")

    def start(self) -> ProjectionWorkers:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()
        self.hurry.set()
        if self.thread.is_alive():
            self.thread.join()

    def _supervise(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    self._run()
                except Exception as error:
                    log.warning("projections stopped (%s); restarting", type(error).__name__)
                    self._release(set(self.leading))
                    self.stopping.wait(RESTART_DELAY_SECONDS)
        finally:
            self._release(set(self.names))

    def _run(self) -> None:
        """Project while this process leads anything, on one ledger connection."""
        ledger = Ledger(env=self.ledger_settings)
        news = LedgerNews(ledger.recorder, self.wakeup, self.hurry)
        poll, linger = poll_seconds(ledger.recorder), linger_seconds(ledger.recorder)
        try:
            projector: Projector | None = None
            checked = 0.0
            while not self.stopping.is_set():
                if time.monotonic() - checked >= LEAD_CHECK_SECONDS:
                    checked = time.monotonic()
                    if self._check_leads() or not (projector is None or projector.current()):
                        # A new lead, a lost one, or a replay's switch with nothing new
                        # to write since (a write would have noticed it).
                        projector = None
                if not self.leading:
                    self.stopping.wait(LEAD_CHECK_SECONDS)
                    continue
                if projector is None:
                    projector = Projector(ledger, self.views, self.leading, self.recent)
                # Cleared before reading: news of a commit during the batch is kept.
                self.wakeup.clear()
                self.hurry.clear()
                try:
                    read = projector.step(self.batch_limit)
                except Exception as error:
                    if not projector.moved(error):
                        raise
                    projector = None
                    continue
                if read < self.batch_limit:
                    self._await_news(poll, linger)
        finally:
            news.stop()
            ledger.close()

    def _await_news(self, poll: float, linger: float) -> None:
        """Sleep until there is news; when it came during the batch (deliveries keep
        coming) and no read waited for the views lately, let more gather for up to
        ``linger`` seconds, or until a read asks (``adapters.subscription``)."""
        streaming = self.wakeup.is_set()
        self.wakeup.wait(poll)
        readers = time.monotonic() - self.hurry.last_set < READERS_SECONDS
        if streaming and linger and not readers:
            self.hurry.wait(linger)

    def _check_leads(self) -> bool:
        """Keep the leads still held, try for the others; whether the set changed."""
        before = set(self.leading)
        for name in before:
            if not self.leads[name].still_held():
                log.warning("projection %s: lost the lead; standing by", name)
                self._release({name})
        for name in self.names:
            if name not in self.leading and self.leads[name].try_acquire():
                log.info("projection %s: leading", name)
                self.leading.add(name)
        return self.leading != before

    def _release(self, names: set[str]) -> None:
        for name in names:
            self.leading.discard(name)
            self.leads[name].release()
