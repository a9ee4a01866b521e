"""Projection workers: the library's projection runner, kept running.

Each projection gets one thread that builds a ``BaseProjectionRunner`` over a live
view and lets it follow the ledger (LISTEN/NOTIFY on PostgreSQL, polling on
SQLite). When a replay has switched the projection to new tables, or the store
failed, the runner stops with an error; the worker builds a new one, which resumes
from the tracking record of the now-active tables.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing.projection import BaseProjectionRunner

from adapters.leadership import Leadership
from adapters.sql import Sql
from adapters.view_tables import (
    SqlAuditTimelineView,
    SqlCurrentStatusView,
    SqlReattemptsView,
)
from adapters.views import GenerationChangedError, SqlVerificationView
from app.ledger import Ledger
from projections.audit_timeline import AuditTimelineProjection
from projections.current_status import CurrentStatusProjection
from projections.reattempts import ReattemptsProjection
from projections.verification_view import VerificationProjection

log = logging.getLogger("ledger.projections")

RESTART_DELAY_SECONDS = 1.0
STANDBY_POLL_SECONDS = 1.0


class LeadershipLostError(Exception):
    """This process no longer holds the lead of a projection it was running."""


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


class ProjectionWorkers:
    """One supervising thread per projection, until ``stop()``."""

    def __init__(
        self,
        ledger_settings: Mapping[str, str],
        views: Sql,
        leadership: Callable[[str], Leadership],
        names: tuple[str, ...] = tuple(PROJECTIONS),
    ):
        self.ledger_settings = dict(ledger_settings)
        self.views = views
        self.leadership = leadership
        self.names = names
        self.leading: set[str] = set()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._supervise, args=(name,), name=f"projection-{name}")
            for name in names
        ]

    def start(self) -> ProjectionWorkers:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def _supervise(self, name: str) -> None:
        """Stand by until this process leads the projection, then run it while it does."""
        spec = PROJECTIONS[name]
        lead = self.leadership(name)
        try:
            while not self.stopping.is_set():
                if not lead.try_acquire():
                    self.stopping.wait(STANDBY_POLL_SECONDS)
                    continue
                log.info("projection %s: leading", name)
                self.leading.add(name)
                try:
                    self._run(spec, lead)
                except GenerationChangedError:
                    log.info("projection %s moved to new tables; restarting its runner", name)
                except LeadershipLostError:
                    log.warning("projection %s: lost the lead; standing by", name)
                except Exception as error:
                    log.warning(
                        "projection %s stopped (%s); restarting", name, type(error).__name__
                    )
                    self.stopping.wait(RESTART_DELAY_SECONDS)
                finally:
                    self.leading.discard(name)
                    lead.release()
        finally:
            lead.release()

    def _run(self, spec: ProjectionSpec, lead: Leadership) -> None:
        projection = spec.build(self.views, mode="live")
        assert isinstance(projection.view, SqlVerificationView)
        runner: BaseProjectionRunner[Ledger] = BaseProjectionRunner(
            projection=projection,
            application_class=Ledger,
            tracking_recorder=projection.view,
            topics=(),
            env=self.ledger_settings,
        )
        try:
            with runner:
                passes = 0
                while not self.stopping.is_set():
                    runner.run_forever(timeout=0.2)
                    if runner.is_interrupted.is_set() and not self.stopping.is_set():
                        raise RuntimeError(f"projection {spec.name} runner stopped")
                    passes += 1
                    if passes % 5 == 0:
                        # Within a second: a replay's switch, or a lost lead, stops the runner.
                        if not projection.view.is_current():
                            raise GenerationChangedError(spec.name)
                        if not lead.still_held():
                            raise LeadershipLostError(spec.name)
        except (GenerationChangedError, LeadershipLostError):
            raise
        except Exception as error:
            # A replay may have dropped the tables this runner was reading.
            if not projection.view.is_current():
                raise GenerationChangedError(spec.name) from error
            raise
