"""Fixtures shared by the whole suite: stores, settings and a running service."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from adapters.persistence import PostgresLocation, parse_database_url
from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from app.service.services import Services
from tests.support.postgres import server_url
from tests.support.process import Launcher
from tests.support.settings import environment

# Fixtures that start processes: a test that uses one is marked ``process`` (so is every
# test of a module whose ``pytestmark`` says so, and a few marked one by one).
PROCESS_FIXTURES = frozenset({"launcher", "orphans"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A reachable PostgreSQL server; failing (never skipping) when there is none."""
    try:
        with server_url() as url:
            with psycopg.connect(_conninfo(url), connect_timeout=10) as conn:
                conn.execute("SELECT 1")
            yield url
    except (RuntimeError, psycopg.Error) as error:
        pytest.fail(f"PostgreSQL is needed for these tests and is not available: {error}")


def _conninfo(url: str) -> str:
    location = parse_database_url(url)
    assert isinstance(location, PostgresLocation)
    return location.conninfo()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A database URL with a schema of this test's own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(postgres_server), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}schema={schema}"
    with psycopg.connect(_conninfo(postgres_server), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store the ledger supports, in turn."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """The wired service over each store in turn."""
    built = bootstrap(load(environment(database_url)))
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """An HTTP client of the service, in process."""
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """``ledger serve`` processes started by a test; whatever is left of them is killed."""
    started = Launcher(tmp_path)
    yield started
    started.close()


@pytest.fixture
def orphans() -> Iterator[list[int]]:
    """Child processes a test found (writers, projection processes): any still running at
    its end are killed."""
    found: list[int] = []
    yield found
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
