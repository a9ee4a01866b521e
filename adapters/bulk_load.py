"""Reading the events of many aggregates in one query, for batched writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from adapters.sql import Sql

CHUNK = 500


def select_events_of(recorder: Any, ids: Sequence[UUID]) -> list[StoredEvent]:
    """Every stored event of the aggregates ``ids``, ordered by aggregate and version."""
    sql = Sql(recorder.datastore)
    table = sql.table(recorder.events_table_name)
    found: list[StoredEvent] = []
    with sql.reading() as c:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            rows = c.execute(
                "SELECT originator_id, originator_version, topic, state"
                f" FROM {table} WHERE originator_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY originator_id, originator_version",
                list(chunk) if sql.postgres else [i.hex for i in chunk],
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
