"""What the edges (HTTP, UI, CLI) work with, as the composition root (``app.bootstrap``)
builds it: complete when built, and never rewired afterwards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from adapters.access_log import AccessLog
from adapters.commit_probe import CommitProbe
from adapters.quarantine import Quarantine
from adapters.retention import RetentionStore
from adapters.session_store import SessionStore
from adapters.signing import SignatureVerifier
from adapters.sql import Sql
from adapters.view_tables import SqlAuditTimelineView, SqlCurrentStatusView, SqlReattemptsView
from adapters.views import SqlVerificationView
from app.config import Settings
from app.service.access import ApiKeys
from app.service.ledger import Ledger
from app.service.merkle_log import TreeLog
from app.service.throttle import FailureLimiter
from app.service.workers import BATCH_LIMIT, ProjectionWorkers
from domain.reports import Delivery, Receipt, Report


class DeliveryRecorder(Protocol):
    """Where webhook deliveries are committed: the ledger in this process, or the writer
    process (ADR 11). ``record_async`` answers once the delivery's commit is durable."""

    async def start(self) -> None: ...

    async def record_async(self, delivery: Delivery, report: Report) -> Receipt: ...

    async def close(self) -> None: ...


class InProcessRecorder:
    """Deliveries committed by the ledger's group commit in this process."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    async def start(self) -> None:
        """Nothing to start: the ledger is open."""

    async def record_async(self, delivery: Delivery, report: Report) -> Receipt:
        return await self.ledger.record_async(delivery, report)

    async def close(self) -> None:
        """Nothing to stop: the ledger closes with the services."""


@dataclass(frozen=True)
class Views:
    """The projections' views as the read API sees them: always the active tables."""

    sql: Sql
    status: SqlCurrentStatusView
    reattempts: SqlReattemptsView
    timeline: SqlAuditTimelineView

    def all(self) -> tuple[SqlVerificationView, ...]:
        return (self.status, self.reattempts, self.timeline)

    def close(self) -> None:
        self.sql.datastore.close()


@dataclass(frozen=True)
class Services:
    """The service's parts, built by ``app.bootstrap``."""

    settings: Settings
    ledger: Ledger
    recorder: DeliveryRecorder
    quarantine: Quarantine
    verifier: SignatureVerifier | None
    api_keys: ApiKeys
    clock: Callable[[], datetime]
    views: Views
    access_log: AccessLog
    commit_probe: CommitProbe
    ui_sessions: SessionStore
    """The auditor UI's sessions that have not ended, shared by every process."""
    auth_failures: FailureLimiter
    """Failed authentications this process has answered, and when to answer 429."""
    projection_workers: Callable[[int], ProjectionWorkers]
    """Builds projection workers over ``views`` reading batches of at most the given
    number of events (started by ``start_projections``)."""
    tree: TreeLog | None = None
    """The ledger's Merkle tree and its checkpoints (ADR 28)."""
    _started: list[ProjectionWorkers] = field(default_factory=list, repr=False)

    @functools.cached_property
    def retention(self) -> RetentionStore:
        """Clients' relationship ends, legal holds and erasures (ADR 31)."""
        return RetentionStore(self.ledger.keys.sql)

    def start_projections(self, batch_limit: int = BATCH_LIMIT) -> ProjectionWorkers:
        """Run projection workers in this process until ``close()`` (or their ``stop()``)."""
        workers = self.projection_workers(batch_limit).start()
        self._started.append(workers)
        return workers

    def close(self) -> None:
        while self._started:
            self._started.pop().stop()
        self.views.close()
        self.ledger.close()
