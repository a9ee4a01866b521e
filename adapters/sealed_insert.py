"""The PostgreSQL insert of events with the data keys they were sealed under, as one
statement of one round trip (``adapters.durability`` explains the plain one).

The store's function ``{events}_insert_sealed`` takes the events table's lock first (as
the plain insert does, and as an erasure does: so a write and an erasure never overlap),
stores the write's new data keys and links, refuses the write if a key it used was
erased, then sends the notification and inserts the events' rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Composed, Identifier

from adapters.data_keys import ErasedKeyError, Sealing, stored_links, stored_rows

ERASED = "a data key this write used was erased meanwhile"
NOTIFY_AND_INSERT = (
    " NOTIFY {channel};"
    " RETURN QUERY INSERT INTO {schema}.{table}"
    " (originator_id, originator_version, topic, state)"
    " SELECT * FROM unnest(ids, versions, topics, states)"
    " RETURNING notification_id;"
    " END $body$"
)
"""How both store functions end: the notification, and the events' rows."""


def create_statement(
    schema: str, table: str, keys: str, channel: str, lock_timeout: int
) -> Composed:
    return SQL(
        "CREATE OR REPLACE FUNCTION {schema}.{function}"
        "(ids uuid[], versions bigint[], topics text[], states bytea[],"
        " new_keys text[], new_subjects text[], new_clients text[], new_wrapped bytea[],"
        " new_created text[], used text[], link_subjects text[], link_clients text[])"
        " RETURNS SETOF bigint LANGUAGE plpgsql AS $body$"
        " DECLARE used_key text;"
        " BEGIN"
        " SET LOCAL lock_timeout = '{lock_timeout}s';"
        " LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
        " IF cardinality(new_keys) > 0 THEN"
        " INSERT INTO {schema}.{keys} (key_id, subject, client_id, wrapped, created_at)"
        " SELECT * FROM unnest(new_keys, new_subjects, new_clients, new_wrapped, new_created)"
        " ON CONFLICT DO NOTHING;"
        " END IF;"
        " IF cardinality(link_subjects) > 0 THEN"  # else its plan would read the whole table
        " UPDATE {schema}.{keys} AS k SET client_id = l.client"
        " FROM unnest(link_subjects, link_clients) AS l(s, client)"
        " WHERE k.subject = l.s AND k.client_id IS NULL;"
        " END IF;"
        " FOREACH used_key IN ARRAY used LOOP"  # one primary-key look-up each
        " IF EXISTS (SELECT 1 FROM {schema}.{keys} WHERE key_id = used_key"
        " AND wrapped IS NULL) THEN"
        " RAISE EXCEPTION '{erased}' USING ERRCODE = 'unique_violation';"
        " END IF;"
        " END LOOP;" + NOTIFY_AND_INSERT
    ).format(
        schema=Identifier(schema),
        function=Identifier(f"{table}_insert_sealed"),
        table=Identifier(table),
        keys=Identifier(keys),
        channel=Identifier(channel),
        lock_timeout=lock_timeout,
        erased=SQL(ERASED),
    )


def call_statement(schema: str, table: str) -> Composed:
    return SQL(
        "SELECT notification_id FROM {schema}.{function}"
        "(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[], %b::text[], %b::text[],"
        " %b::text[], %b::bytea[], %b::text[], %b::text[], %b::text[], %b::text[])"
        " AS notification_id"
    ).format(schema=Identifier(schema), function=Identifier(f"{table}_insert_sealed"))


def arguments(stored_events: Sequence[StoredEvent], sealing: Sealing) -> tuple[list[Any], ...]:
    rows = stored_rows(sealing)
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
        *([row[n] for row in rows] for n in range(5)),
        sealing.used,
        *([link[n] for link in stored_links(sealing)] for n in range(2)),
    )


def refused(error: Exception) -> Exception:
    """The error a failed sealed insert means: ``ErasedKeyError`` when a key it used was
    erased, else ``error`` itself."""
    return ErasedKeyError(ERASED) if ERASED in str(error) else error
