"""The projections' views in SQL, for SQLite and PostgreSQL alike.

Each projection's rows live in tables of a *generation* (``current_status_g1``...).
``ledger_projections`` names the active generation of each projection, and, while a
replay runs, the one being built. Readers follow the active generation; a live
writer is bound to the generation that was active when it started and stops with
``GenerationChangedError`` once a replay has switched, so that it can restart on the
new tables from where the replay left them. Tracking records live in
``ledger_projection_tracking``, one row per generation, written in the same
transaction as the rows they account for.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import Any, ClassVar, Literal, TypeVar

import msgspec
from eventsourcing.persistence import (
    PersistenceError,
    Tracking,
    WaitInterruptedError,
)

from adapters.fact_codec import decode_facts, encode_facts
from adapters.generations import (
    META,
    TRACKING,
    ensure_meta,
    generations,
    table_key,
    track_statement,
)
from adapters.progress import ProgressWatch
from adapters.sql import Cursor, Sql
from adapters.subscription import ask_for_progress
from adapters.view_writes import write_together
from projections.facts import Fact
from projections.verification_view import VerificationState, VerificationView

# Readers may use the previous generation this long after a replay's switch; a replay
# waits longer than this before it drops the old tables.
GENERATION_LOOKUP_SECONDS = 0.5

Mode = Literal["live", "build", "read"]
T = TypeVar("T")

_json_decoder = msgspec.json.Decoder()


def reading(method: Callable[..., T]) -> Callable[..., T]:
    """A reader's query that, if the tables it read are gone, looks up the active ones again."""

    @functools.wraps(method)
    def read(view: SqlVerificationView, *args: Any, **kwargs: Any) -> T:
        try:
            return method(view, *args, **kwargs)
        except PersistenceError:
            if view.mode != "read":
                raise
            known = view.bound
            view.looked_up_until = 0.0
            if view.generation() == known:
                raise
            return method(view, *args, **kwargs)

    return read


def encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def decode_json(text: str | bytes) -> Any:
    return _json_decoder.decode(text)


class SqlVerificationView(VerificationView):
    """Rows keyed by scanRef with their facts, in one generation's table."""

    projection: ClassVar[str]
    columns: ClassVar[tuple[tuple[str, str], ...]]
    indexes: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def __init__(self, sql: Sql, *, mode: Mode = "read", generation: int | None = None):
        self.sql = sql
        self.mode = mode
        self.looked_up_until = 0.0
        self._watches: dict[str, ProgressWatch] = {}
        ensure_meta(sql)
        with sql.transaction(commit=True) as c:
            active, _ = generations(c, self.projection)
        self.bound = generation if generation is not None else active
        self.create_tables(self.bound)

    # Names and tables.

    def generation(self) -> int:
        """The generation to read: a reader looks up the active one at most twice a second."""
        if self.mode != "read":
            return self.bound
        now = time.monotonic()
        if now < self.looked_up_until:
            return self.bound
        with self.sql.transaction(commit=False) as c:
            row = c.execute(
                f"SELECT active FROM {self.sql.table(META)} WHERE name = ?", (self.projection,)
            ).fetchone()
        if row is not None:
            self.bound = int(row["active"])
        self.looked_up_until = now + GENERATION_LOOKUP_SECONDS
        return self.bound

    def is_current(self) -> bool:
        """Whether this view's generation is still the active one."""
        with self.sql.transaction(commit=False) as c:
            row = c.execute(
                f"SELECT active FROM {self.sql.table(META)} WHERE name = ?", (self.projection,)
            ).fetchone()
        return row is not None and int(row["active"]) == self.bound

    def building_progress(self) -> int | None:
        """How far a replay's half-built generation has got, or None when none is."""
        with self.sql.transaction(commit=True) as c:
            _, building = generations(c, self.projection)
            if building is None:
                return None
            return self._tracked(c, self.key(building), "Ledger") or 0

    def key(self, generation: int | None = None) -> str:
        return table_key(self.projection, self.bound if generation is None else generation)

    def rows_table(self, generation: int | None = None) -> str:
        return self.sql.table(self.key(generation))

    def create_tables(self, generation: int) -> None:
        """The generation's table; its secondary indexes too, unless it is being built."""
        columns = ", ".join(
            f"{name} {kind.replace('BLOB', self.sql.blob).replace('BIGINT', self.sql.bigint)}"
            for name, kind in self.columns
        )
        with self.sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.rows_table(generation)}"
                f" (scan_ref TEXT PRIMARY KEY, {columns}, facts BLOB NOT NULL)".replace(
                    "BLOB", self.sql.blob
                )
            )
        if self.mode != "build":
            self.create_indexes(generation)

    def create_indexes(self, generation: int) -> None:
        """Secondary indexes: a replay adds them once its rows are written, before the switch."""
        key = self.key(generation)
        with self.sql.transaction(commit=True) as c:
            for number, index in enumerate(self.indexes):
                c.execute(
                    f'CREATE INDEX IF NOT EXISTS "{key}_i{number}"'
                    f" ON {self.rows_table(generation)} ({', '.join(index)})"
                )

    def drop_tables(self, generation: int) -> None:
        with self.sql.transaction(commit=True) as c:
            c.execute(f"DROP TABLE IF EXISTS {self.rows_table(generation)}")
            c.execute(
                f"DELETE FROM {self.sql.table(TRACKING)} WHERE view = ?", (self.key(generation),)
            )

    # TrackingRecorder.

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.sql.transaction(commit=True) as c:
            self._track(c, tracking)

    @reading
    def max_tracking_id(self, application_name: str) -> int | None:
        key = self.key(self.generation())
        with self.sql.reading() as c:  # one statement: one round trip on PostgreSQL
            return self._tracked(c, key, application_name)

    def wait(
        self,
        application_name: str,
        notification_id: int | None,
        timeout: float = 1.0,
        interrupt: threading.Event | None = None,
    ) -> None:
        """Block until the view has recorded ``notification_id`` (TimeoutError after
        ``timeout`` seconds).

        The library's wait sleeps 0.1 s before it looks a second time; here the waiting
        reads share one look every 2 ms (``adapters.progress``).
        """
        if self.has_tracking_id(application_name, notification_id):
            return
        if interrupt is not None and interrupt.is_set():
            raise WaitInterruptedError
        assert notification_id is not None
        watch = self._watches.get(application_name)
        if watch is None:
            watch = self._watches.setdefault(
                application_name,
                ProgressWatch(
                    partial(self.max_tracking_id, application_name),
                    f"watch-{self.projection}",
                    partial(ask_for_progress, self.sql),
                ),
            )
        if not watch.wait(notification_id, timeout):
            raise TimeoutError(
                f"the view {self.projection} has not reached position {notification_id}"
            )

    def _tracked(self, c: Cursor, key: str, application_name: str) -> int | None:
        row = c.execute(
            f"SELECT notification_id FROM {self.sql.table(TRACKING)}"
            " WHERE view = ? AND application_name = ?",
            (key, application_name),
        ).fetchone()
        return None if row is None else int(row["notification_id"])

    def _track(self, c: Cursor, tracking: Tracking) -> None:
        c.execute(
            track_statement(self.sql),
            (self.key(), tracking.application_name, tracking.notification_id),
        )

    # VerificationView.

    def facts(self, scan_refs: Collection[str]) -> dict[str, list[Fact]]:
        found: dict[str, list[Fact]] = {}
        with self.sql.reading(by_position=True) as c:
            for condition, params in self.sql.among("scan_ref", list(scan_refs)):
                statement = f"SELECT scan_ref, facts FROM {self.rows_table()} WHERE {condition}"
                for scan_ref, facts in c.execute(statement, params, binary=True).fetchall():
                    found[scan_ref] = decode_facts(bytes(facts))
        return found

    def save(
        self,
        states: Sequence[VerificationState],
        tracking: Tracking,
        blobs: Sequence[bytes] | None = None,
        rows: Sequence[Sequence[Any]] = (),
    ) -> None:
        """Write the rows and the tracking record (see ``VerificationView.save``).

        ``blobs`` are the states' facts already encoded (``encode_facts``), when a
        replay writes the same states to several views; ``rows`` are more rows made
        elsewhere (``row``), written with them.
        """
        if blobs is None:
            blobs = [encode_facts(state.facts) for state in states]
        with self.sql.transaction(commit=True) as c:
            write_together(c, [(self, states, blobs, rows)], tracking)

    def _upsert(
        self,
        c: Cursor,
        states: Sequence[VerificationState],
        blobs: Sequence[bytes],
        rows: Sequence[Sequence[Any]] = (),
    ) -> None:
        columns = [("scan_ref", "TEXT"), *self.columns, ("facts", "BLOB")]
        written = {row[0]: row for row in rows}
        for state, blob in zip(states, blobs, strict=True):
            written.update((row[0], row) for row in self.rows(state, blob))
        # One row per key: PostgreSQL updates a row at most once per statement.
        c.upsert(self.rows_table(), columns, list(written.values()), "scan_ref")

    @classmethod
    def row(cls, state: VerificationState, blob: bytes) -> tuple[Any, ...]:
        """The row of ``state`` as ``save`` writes it; ``blob`` is its encoded facts."""
        return (state.scan_ref, *cls.values(state), blob)

    @classmethod
    def rows(cls, state: VerificationState, blob: bytes) -> list[tuple[Any, ...]]:
        """Every row ``state`` makes: its own, and any that a view keeps beside it."""
        return [cls.row(state, blob)]

    @classmethod
    def values(cls, state: VerificationState) -> tuple[Any, ...]:
        """The row's column values (after scan_ref, before facts), in ``columns`` order."""
        raise NotImplementedError
