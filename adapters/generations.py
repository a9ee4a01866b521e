"""Generations of the projections' tables, and where each view's tracking is kept.

``ledger_projections`` names, per projection, the active generation of its tables and,
while a replay runs, the one being built (and under which rules). Readers follow the
active one; a replay switches to the one it built in one transaction
(``adapters.views`` has the rest of the story). ``ledger_projection_tracking`` holds
one tracking record per view and generation.
"""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError

from adapters.sql import Cursor, Sql

META = "ledger_projections"
TRACKING = "ledger_projection_tracking"


def table_key(projection: str, generation: int) -> str:
    """The unquoted name of a projection's rows table in ``generation``."""
    return f"{projection}_g{generation}"


class GenerationChangedError(Exception):
    """A replay switched this projection to new tables; the writer must restart."""


def ensure_meta(sql: Sql) -> None:
    for attempt in range(2):
        try:
            with sql.transaction(commit=True) as c:
                c.execute(
                    f"CREATE TABLE IF NOT EXISTS {sql.table(META)} (name TEXT PRIMARY KEY,"
                    " active INTEGER NOT NULL, building INTEGER, building_rules INTEGER)"
                )
                c.execute(
                    f"CREATE TABLE IF NOT EXISTS {sql.table(TRACKING)} (view TEXT PRIMARY KEY,"
                    f" application_name TEXT NOT NULL, notification_id {sql.bigint} NOT NULL)"
                )
            return
        except IntegrityError:
            # Another process created the same tables at the same moment.
            if attempt:
                raise


def generations(c: Cursor, name: str) -> tuple[int, int | None]:
    """(active, building) of the named projection, registering it on first use."""
    c.execute(
        f"INSERT INTO {c.sql.table(META)} (name, active) VALUES (?, 1)"
        " ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    row = c.execute(f"SELECT active, building FROM {c.sql.table(META)} WHERE name = ?", (name,))
    found = row.fetchone()
    return int(found["active"]), None if found["building"] is None else int(found["building"])


def track_statement(sql: Sql) -> str:
    """Record a view's tracking position: (view, application name, notification id)."""
    return (
        f"INSERT INTO {sql.table(TRACKING)} (view, application_name, notification_id)"
        " VALUES (?, ?, ?) ON CONFLICT (view) DO UPDATE"
        " SET notification_id = excluded.notification_id,"
        " application_name = excluded.application_name"
    )


def begin_build(sql: Sql, name: str, rules_version: int) -> tuple[int, int, bool]:
    """(active, building, fresh): the generation a replay builds.

    An unfinished one is resumed when it was begun under the same rules; one begun
    under other rules is started again from nothing (``fresh``).
    """
    ensure_meta(sql)
    with sql.transaction(commit=True) as c:
        active, building = generations(c, name)
        row = c.execute(
            f"SELECT building_rules FROM {sql.table(META)} WHERE name = ?", (name,)
        ).fetchone()
        fresh = building is None or row["building_rules"] != rules_version
        if fresh:
            building = active + 1
            c.execute(
                f"UPDATE {sql.table(META)} SET building = ?, building_rules = ? WHERE name = ?",
                (building, rules_version, name),
            )
    assert building is not None
    return active, building, fresh


def switch_to(sql: Sql, name: str, generation: int) -> None:
    """Make ``generation`` the active one of ``name``, in one transaction."""
    with sql.transaction(commit=True) as c:
        c.execute(
            f"UPDATE {sql.table(META)} SET active = ?, building = NULL, building_rules = NULL"
            " WHERE name = ?",
            (generation, name),
        )
