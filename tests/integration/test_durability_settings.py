from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from starlette.testclient import TestClient

from adapters.durability import VIEWS_PAGE_SIZE, views_path
from adapters.persistence import SQLiteLocation, parse_database_url
from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from app.service.services import Services
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.settings import SIGNING_KEYS, environment
from tests.support.topology import postgres_location

SQLITE_NORMAL, SQLITE_FULL = 1, 2


def record_a_delivery(services: Services) -> None:
    raw = encode(result_body())
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        response = client.post(
            "/webhooks/idenfy", content=raw, headers=signed_headers(raw, SIGNING_KEYS[0])
        )
    assert response.json()["result"] == "recorded"


def sqlite_datastore(services: Services) -> SQLiteDatastore:
    datastore = getattr(services.ledger.recorder, "datastore", None)
    assert isinstance(datastore, SQLiteDatastore)
    return datastore


def postgres_datastore(services: Services) -> PostgresDatastore:
    datastore = getattr(services.ledger.recorder, "datastore", None)
    assert isinstance(datastore, PostgresDatastore)
    return datastore


def sqlite_pragmas(cursor: Any) -> tuple[int, str]:
    cursor.execute("PRAGMA synchronous")
    synchronous = int(cursor.fetchone()[0])
    cursor.execute("PRAGMA journal_mode")
    return synchronous, str(cursor.fetchone()[0]).lower()


def test_every_sqlite_connection_of_the_recorder_syncs_fully_in_wal_mode(
    sqlite_url: str,
) -> None:
    services = bootstrap(load(environment(sqlite_url)))
    try:
        record_a_delivery(services)
        datastore = sqlite_datastore(services)
        most = datastore.pool.pool_size + datastore.pool.max_overflow
        with ExitStack() as stack:
            # Every connection the pool may ever hold, open at once.
            cursors = [
                stack.enter_context(datastore.transaction(commit=False)) for _ in range(most)
            ]
            seen = [sqlite_pragmas(cursor) for cursor in cursors]
        assert seen == [(SQLITE_FULL, "wal")] * most
        with datastore.transaction(commit=True) as writer:
            assert sqlite_pragmas(writer) == (SQLITE_FULL, "wal")
    finally:
        services.close()


def test_a_reopened_sqlite_ledger_syncs_fully_too(sqlite_url: str) -> None:
    bootstrap(load(environment(sqlite_url))).close()
    services = bootstrap(load(environment(sqlite_url)))
    try:
        with sqlite_datastore(services).transaction(commit=True) as cursor:
            assert sqlite_pragmas(cursor) == (SQLITE_FULL, "wal")
    finally:
        services.close()


def views_file_page_size(sqlite_url: str) -> int:
    location = parse_database_url(sqlite_url)
    assert isinstance(location, SQLiteLocation)
    with closing(sqlite3.connect(views_path(location))) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_views_file_has_large_pages_in_wal_mode_and_syncs_normally(sqlite_url: str) -> None:
    services = bootstrap(load(environment(sqlite_url)))
    try:
        with services.views.sql.transaction(commit=True) as cursor:
            assert sqlite_pragmas(cursor.cursor) == (SQLITE_NORMAL, "wal")
    finally:
        services.close()
    assert views_file_page_size(sqlite_url) == VIEWS_PAGE_SIZE


def test_an_existing_views_file_keeps_its_page_size(sqlite_url: str) -> None:
    location = parse_database_url(sqlite_url)
    assert isinstance(location, SQLiteLocation)
    with closing(sqlite3.connect(views_path(location))) as connection:
        connection.execute("CREATE TABLE earlier (n INTEGER)")
    bootstrap(load(environment(sqlite_url))).close()
    assert views_file_page_size(sqlite_url) == 4096


@pytest.fixture
def lax_database_url(postgres_server: str) -> Iterator[str]:
    """A database, and a role owning it, whose defaults turn synchronous commits off."""
    name = f"lax_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_location(postgres_server).conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        admin.execute(f'ALTER ROLE "{name}" SET synchronous_commit = off')
    parts = urlsplit(postgres_server)
    netloc = f"{name}@{parts.hostname}:{parts.port or 5432}"
    yield urlunsplit(parts._replace(netloc=netloc, path=f"/{name}"))
    with psycopg.connect(postgres_location(postgres_server).conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE "{name}"')


@pytest.mark.postgres
def test_every_postgres_session_of_the_recorder_commits_synchronously_whatever_the_defaults(
    lax_database_url: str,
) -> None:
    with psycopg.connect(postgres_location(lax_database_url).conninfo()) as plain:
        default = plain.execute("SHOW synchronous_commit").fetchone()
    assert default == ("off",)
    services = bootstrap(load(environment(lax_database_url)))
    try:
        record_a_delivery(services)
        datastore = postgres_datastore(services)
        most = datastore.pool.max_size
        with ExitStack() as stack:
            # Every session the pool may ever hold, open at once.
            cursors = [
                stack.enter_context(datastore.transaction(commit=False)) for _ in range(most)
            ]
            for cursor in cursors:
                cursor.execute("SHOW synchronous_commit")
            seen = [cursor.fetchone() for cursor in cursors]
        assert seen == [{"synchronous_commit": "on"}] * most
        with datastore.transaction(commit=True) as writer:
            writer.execute("SHOW synchronous_commit")
            assert writer.fetchone() == {"synchronous_commit": "on"}
    finally:
        services.close()
