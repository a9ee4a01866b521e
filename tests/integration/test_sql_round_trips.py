"""The statements of a live batch on PostgreSQL: prepared once and kept, sent together,
all or nothing (``adapters.sql``, ``adapters.pg_datastore``); SQLite's write lock taken
when a writing transaction begins."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteDatastore

from adapters.persistence import PostgresLocation, parse_database_url
from adapters.pg_datastore import PreparedKeepingDatastore
from adapters.sql import Sql
from app.service.services import Services

COLUMNS = [("k", "TEXT"), ("n", "BIGINT")]


def prepared_on(datastore: PreparedKeepingDatastore) -> int:
    """How many statements the datastore's one connection has prepared."""
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("SELECT COUNT(*) AS n FROM pg_prepared_statements")
        row = cursor.fetchone()
    assert row is not None
    return int(row["n"])


@pytest.mark.postgres
def test_a_read_keeps_the_statements_the_connection_prepared(postgres_url: str) -> None:
    location = parse_database_url(postgres_url)
    assert isinstance(location, PostgresLocation)
    datastore = PreparedKeepingDatastore.at(location, pool_size=1, max_overflow=0)
    try:
        # psycopg prepares a statement the fifth time it runs on a connection; with the
        # library's reads (they roll back) it forgot them all at the end of each read.
        for _ in range(6):
            with datastore.transaction(commit=False) as cursor:
                cursor.execute("SELECT %s::int AS n", (1,)).fetchall()
        assert prepared_on(datastore) == 1
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT %s::int AS n", (2,)).fetchall()
        assert prepared_on(datastore) == 1
    finally:
        datastore.close()


def test_a_read_transaction_cannot_write(services: Services) -> None:
    sql = services.views.sql
    table = sql.table("read_only_check")
    with sql.transaction(commit=True) as c:
        c.execute(f"CREATE TABLE {table} (k TEXT PRIMARY KEY)")
    if sql.postgres:
        with pytest.raises(Exception, match="read-only"), sql.transaction(commit=False) as c:
            c.execute(f"INSERT INTO {table} (k) VALUES (?)", ("x",))
    else:
        with sql.transaction(commit=False) as c:
            c.execute(f"INSERT INTO {table} (k) VALUES (?)", ("x",))
    with sql.transaction(commit=True) as c:
        assert c.execute(f"SELECT k FROM {table}").fetchall() == []


def fail_after_sending(sql: Sql, table: str) -> None:
    with sql.pipelined_transaction() as c:
        c.upsert(table, COLUMNS, [("a", 10), ("c", 3)], "k")
        c.sent(f"SELECT COUNT(*) AS n FROM {table}")()
        raise RuntimeError("a batch that fails after its writes were sent")


def fail_in_the_server(sql: Sql, table: str) -> None:
    with sql.pipelined_transaction() as c:
        c.upsert(table, COLUMNS, [("d", 4)], "k")
        c.execute(f"INSERT INTO {table} (k, n) VALUES (?, ?)", ("a", 0))  # a duplicate key


def test_a_pipelined_transaction_commits_all_or_nothing(services: Services) -> None:
    sql = services.views.sql
    table = sql.table("pipeline_check")
    with sql.transaction(commit=True) as c:
        c.execute(f"CREATE TABLE {table} (k TEXT PRIMARY KEY, n {sql.bigint})")
    with sql.pipelined_transaction() as c:
        first = c.sent(f"SELECT COUNT(*) AS n FROM {table}")
        c.upsert(table, COLUMNS, [("a", 1), ("b", 2)], "k")
        second = c.sent(f"SELECT COUNT(*) AS n FROM {table}")
        assert (int(first()[0]["n"]), int(second()[0]["n"])) == (0, 2)
    with pytest.raises(RuntimeError):
        fail_after_sending(sql, table)
    with pytest.raises(IntegrityError):
        fail_in_the_server(sql, table)
    with sql.transaction(commit=False) as c:
        rows = c.execute(f"SELECT k, n FROM {table} ORDER BY k").fetchall()
    assert [(r["k"], int(r["n"])) for r in rows] == [("a", 1), ("b", 2)]
    # The connection is usable afterwards.
    with sql.pipelined_transaction() as c:
        c.upsert(table, COLUMNS, [("e", 5)], "k")
    with sql.transaction(commit=False) as c:
        assert c.execute(f"SELECT n FROM {table} WHERE k = ?", ("e",)).fetchone()["n"] == 5


def test_among_finds_the_rows_of_any_number_of_keys(services: Services) -> None:
    sql = services.views.sql
    table = sql.table("among_check")
    with sql.transaction(commit=True) as c:
        c.execute(f"CREATE TABLE {table} (k TEXT PRIMARY KEY, n {sql.bigint})")
        c.insert(table, COLUMNS, [(f"k{i}", i) for i in range(1_200)])
    wanted = [f"k{i}" for i in range(0, 1_200, 2)] + ["absent"]

    def found(keys: list[str]) -> list[str]:
        with sql.reading() as c:
            return sorted(
                row["k"]
                for condition, params in sql.among("k", keys)
                for row in c.execute(f"SELECT k FROM {table} WHERE {condition}", params).fetchall()
            )

    assert found(wanted) == sorted(wanted[:-1])  # more than one SQLite chunk
    assert found([]) == []
    assert len(sql.among("k", [])) == 0


def test_a_write_transaction_on_sqlite_holds_the_write_lock_from_its_start(
    tmp_path: Path,
) -> None:
    """A transaction that reads before it writes is not refused when another connection
    commits in between: that connection waits instead (here it is told not to wait)."""
    path = tmp_path / "locks.sqlite3"
    sql = Sql(SQLiteDatastore(str(path)))
    with sql.transaction(commit=True) as c:
        c.execute("CREATE TABLE kept (n INTEGER)")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with sql.transaction(commit=True) as c:
            c.execute("SELECT COUNT(*) AS n FROM kept").fetchone()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO kept (n) VALUES (2)")
            c.execute("INSERT INTO kept (n) VALUES (1)")
        other.execute("INSERT INTO kept (n) VALUES (3)")
        assert other.execute("SELECT n FROM kept ORDER BY n").fetchall() == [(1,), (3,)]
    finally:
        other.close()
        sql.datastore.close()
