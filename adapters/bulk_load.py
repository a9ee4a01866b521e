"""Reading stored events straight from the library's events table, many at a time.

``select_notifications`` and the repository make a ``Notification`` or a domain event,
with a ``UUID``, of every row; the ledger's batched writes, its replay and its export
read thousands of rows at once and need less.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from adapters.sql import Sql

EventRow = tuple[int, int, str, bytes, Any]
"""(position, sequence, topic, state, originator id as stored) of one stored event."""


def select_events_of(recorder: Any, ids: Sequence[UUID]) -> list[StoredEvent]:
    """Every stored event of the aggregates ``ids``, ordered by aggregate and version."""
    sql = Sql(recorder.datastore)
    table = sql.table(recorder.events_table_name)
    found: list[StoredEvent] = []
    stored_ids = list(ids) if sql.postgres else [i.hex for i in ids]
    with sql.reading() as c:
        for condition, params in sql.among("originator_id", stored_ids):
            rows = c.execute(
                "SELECT originator_id, originator_version, topic, state"
                f" FROM {table} WHERE {condition} ORDER BY originator_id, originator_version",
                params,
                binary=True,
            ).fetchall()
            found.extend(
                StoredEvent(
                    originator_id=UUID(str(row["originator_id"])),
                    originator_version=int(row["originator_version"]),
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in rows
            )
    return found


def select_rows_after(
    recorder: Any, after: int, limit: int, until: int | None = None
) -> list[EventRow]:
    """Up to ``limit`` stored events after position ``after`` (and up to ``until``),
    in ledger order, with their states read in binary from PostgreSQL."""
    sql = Sql(recorder.datastore)
    position = "notification_id" if sql.postgres else "rowid"
    originator = "CAST(originator_id AS TEXT)" if sql.postgres else "originator_id"
    bound = f" AND {position} <= ?" if until is not None else ""
    params = (after, until, limit) if until is not None else (after, limit)
    with sql.reading(by_position=True) as c:
        found = c.execute(
            f"SELECT {position}, originator_version, topic, state, {originator}"
            f" FROM {sql.table(recorder.events_table_name)} WHERE {position} > ?{bound}"
            f" ORDER BY {position} LIMIT ?",
            params,
            binary=True,
        ).fetchall()
    return [(int(r[0]), int(r[1]), r[2], bytes(r[3]), r[4]) for r in found]


def notification_of(row: EventRow) -> Notification:
    """The library's notification of a row, for decoding it the library's way."""
    position, sequence, topic, state, originator = row
    return Notification(
        id=position,
        originator_id=UUID(str(originator)),
        originator_version=sequence,
        topic=topic,
        state=state,
    )
