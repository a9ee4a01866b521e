"""The composition root: every dependency of the service, built in one place."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from adapters.access_log import AccessLog
from adapters.commit_probe import CommitProbe
from adapters.durability import views_datastore
from adapters.leadership import leadership_for, setup_lock
from adapters.merkle_tables import MerkleTables
from adapters.persistence import SQLiteLocation, eventsourcing_settings
from adapters.private_files import private_database
from adapters.quarantine import Quarantine, SqlQuarantine
from adapters.recent_rows import RecentRows
from adapters.retention import RetentionStore
from adapters.session_store import SessionStore
from adapters.signing import SignatureVerifier
from adapters.sql import Sql
from adapters.view_tables import SqlAuditTimelineView, SqlCurrentStatusView, SqlReattemptsView
from app.config import ConfigError, Settings
from app.service.access import ApiKeys
from app.service.errors import StoreUnavailableError
from app.service.ledger import Ledger
from app.service.merkle_log import TreeLog
from app.service.policy import PolicyInForce, put_in_force, recorded_policy
from app.service.services import DeliveryRecorder, InProcessRecorder, Services, Views
from app.service.throttle import FailureLimiter
from app.service.tree_follower import TreeFollower
from app.service.workers import BATCH_LIMIT, ProjectionWorkers
from app.service.writer import WriterProcess
from app.store_keys import checked, migrate
from projections.policy import PolicyError, parse_policy

OPEN_ATTEMPTS = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(
    settings: Settings,
    *,
    create_tables: bool = True,
    ledger: Ledger | None = None,
    quarantine: Quarantine | None = None,
    clock: Callable[[], datetime] = utc_now,
    writer_process: bool = False,
) -> Services:
    """Open the store named by ``settings`` (creating its tables) and wire the service.

    With ``writer_process``, deliveries are committed by a writer process of their own
    (``ledger serve`` on PostgreSQL, ADR 11); otherwise by the ledger in this process.
    """
    with setting_up(settings, create_tables):
        opened = ledger is None
        if ledger is None:
            ledger = open_ledger(settings, create_tables=create_tables)
        if quarantine is None:
            quarantine = open_quarantine(ledger)
        if create_tables and opened:
            migrate(settings, ledger)
        views = open_views(settings)
        views.status.serving.clock = clock
        views.status.serving.policy = seeded_policy(settings, ledger, clock, create_tables)
        access_log = open_access_log(ledger)
        commit_probe = open_commit_probe(ledger)
        ui_sessions = open_session_store(ledger)
        tree = open_tree(settings, ledger, clock)
    recorder: DeliveryRecorder = WriterProcess() if writer_process else InProcessRecorder(ledger)
    return Services(
        settings=settings,
        ledger=ledger,
        recorder=recorder,
        quarantine=quarantine,
        verifier=SignatureVerifier(settings.signing_keys) if settings.signing_keys else None,
        api_keys=ApiKeys(settings.api_keys),
        clock=clock,
        views=views,
        access_log=access_log,
        commit_probe=commit_probe,
        ui_sessions=ui_sessions,
        auth_failures=FailureLimiter(settings.failure_limits),
        projection_workers=partial(projection_workers, settings, views.sql),
        tree=tree,
    )


def seeded_policy(
    settings: Settings, ledger: Ledger, clock: Callable[[], datetime], create_tables: bool
) -> PolicyInForce:
    """The policy in force; ``LEDGER_POLICY`` is put in force on a store that has none."""
    if settings.policy_path is not None and create_tables and recorded_policy(ledger) is None:
        try:
            policy = parse_policy(Path(settings.policy_path).read_bytes())
        except OSError as error:
            reason = error.strerror
            raise ConfigError(
                f"LEDGER_POLICY: cannot read {settings.policy_path}: {reason}"
            ) from None
        except PolicyError as error:
            raise ConfigError(f"LEDGER_POLICY: {settings.policy_path}: {error}") from None
        put_in_force(ledger, policy, clock())
    return PolicyInForce(ledger)


@contextlib.contextmanager
def setting_up(settings: Settings, create_tables: bool = True) -> Iterator[None]:
    """Hold the store's set-up lock while tables are created (not needed otherwise)."""
    if not create_tables:
        yield
        return
    with contextlib.ExitStack() as held:
        try:
            if isinstance(settings.store, SQLiteLocation):
                private_database(settings.store.path)
            held.enter_context(setup_lock(settings.store))
        except (OSError, psycopg.Error) as error:
            raise StoreUnavailableError(f"cannot open the ledger's database: {error}") from error
        yield


def projection_workers(
    settings: Settings,
    views: Sql,
    batch_limit: int = BATCH_LIMIT,
    recent: RecentRows | None = None,
) -> ProjectionWorkers:
    """The projection workers of the ledger ``settings`` name, writing to ``views``
    (and keeping the rows they read in ``recent``)."""
    return ProjectionWorkers(
        ledger_settings(settings),
        views,
        partial(leadership_for, settings.store),
        batch_limit=batch_limit,
        recent=recent,
    )


def followers(
    settings: Settings, views: Sql, batch_limit: int = BATCH_LIMIT
) -> tuple[ProjectionWorkers, TreeFollower]:
    """The projection workers and the tree follower of one process (not started): the
    tree takes the rows the workers read (``adapters.recent_rows``)."""
    recent = RecentRows()
    return projection_workers(settings, views, batch_limit, recent), tree_follower(settings, recent)


def ledger_settings(settings: Settings, *, create_tables: bool = False) -> dict[str, str]:
    """The event store's settings for ``settings``, by default for a store already set up."""
    return eventsourcing_settings(
        settings.store, settings.encryption_key, create_tables=create_tables
    )


def open_views(settings: Settings) -> Views:
    try:
        sql = Sql(views_datastore(settings.store))
        status = SqlCurrentStatusView(sql)
        status.serving.grace = settings.completeness.overdue_grace
        return Views(
            sql=sql,
            status=status,
            reattempts=SqlReattemptsView(sql),
            timeline=SqlAuditTimelineView(sql),
        )
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot open the projections' views: {error}") from error


def open_ledger(settings: Settings, *, create_tables: bool = True) -> Ledger:
    """The ledger, creating its tables unless told they exist.

    Several processes may start against one PostgreSQL database at once; the one
    whose table creation loses a race tries again.
    """
    if isinstance(settings.store, SQLiteLocation):
        try:
            private_database(settings.store.path)
        except OSError as error:
            raise StoreUnavailableError(f"cannot open the ledger's database: {error}") from error
    env = ledger_settings(settings, create_tables=create_tables)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return checked(Ledger(env=env))
        except PersistenceError as error:
            if attempt == OPEN_ATTEMPTS - 1 or "concurrently" not in str(error):
                raise StoreUnavailableError(
                    f"cannot open the ledger's database: {error}"
                ) from error
            time.sleep(random.uniform(0.05, 0.3))
    raise AssertionError("unreachable")


def ledger_sql(ledger: Ledger) -> Sql:
    """SQL on the ledger's own database, for the tables kept beside its events."""
    datastore = getattr(ledger.recorder, "datastore", None)
    if not isinstance(datastore, SQLiteDatastore | PostgresDatastore):
        raise TypeError(f"no SQL datastore behind {type(ledger.recorder).__name__}")
    return Sql(datastore)


def open_quarantine(ledger: Ledger) -> SqlQuarantine:
    try:
        return SqlQuarantine(ledger_sql(ledger), keys=ledger.keys)
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot open the quarantine table: {error}") from error


def open_access_log(ledger: Ledger) -> AccessLog:
    try:
        return AccessLog(ledger_sql(ledger))
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot open the access log: {error}") from error


def open_commit_probe(ledger: Ledger) -> CommitProbe:
    try:
        return CommitProbe(ledger_sql(ledger))
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot open the commit probe's table: {error}") from error


@dataclass(frozen=True)
class Prepared:
    """A store set up by ``set_up_store``."""

    views: Sql
    adopted: int
    """Quarantined unsigned deliveries found signed with a key configured since."""


def set_up_store(settings: Settings) -> Prepared:
    """Create the ledger's and the views' tables once, before anything else opens them,
    and keep as authentic what a signing key added since had signed (ADR 25)."""
    with setting_up(settings):
        ledger = open_ledger(settings)
        try:
            quarantine = open_quarantine(ledger)
            migrate(settings, ledger)
            adopted = 0
            if settings.signing_keys:
                verifier = SignatureVerifier(settings.signing_keys)
                adopted = quarantine.adopt(verifier.matching_key)
            open_access_log(ledger)
            RetentionStore(ledger_sql(ledger))
            open_commit_probe(ledger)
            open_session_store(ledger)
            open_tree(settings, ledger)
        finally:
            ledger.close()
        views = open_views(settings)
    return Prepared(views.sql, adopted)


def open_session_store(ledger: Ledger) -> SessionStore:
    try:
        return SessionStore(ledger_sql(ledger))
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot open the UI's sessions table: {error}") from error


def open_tree(
    settings: Settings,
    ledger: Ledger,
    clock: Callable[[], datetime] = utc_now,
    recent: RecentRows | None = None,
) -> TreeLog:
    """The ledger's Merkle tree, its tables created when missing (ADR 28); it reads new
    events from ``recent`` when it holds them."""
    try:
        tables = MerkleTables(ledger_sql(ledger))
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot open the Merkle tree's tables: {error}") from error
    return TreeLog(ledger, tables, settings.checkpoint_key, clock, recent)


def tree_follower(settings: Settings, recent: RecentRows | None = None) -> TreeFollower:
    """The thread that keeps the tree up with the ledger and publishes checkpoints."""
    return TreeFollower(
        lambda: open_tree(settings, open_ledger(settings, create_tables=False), recent=recent),
        settings.checkpoint_interval,
        settings.tree_follower,
    )
