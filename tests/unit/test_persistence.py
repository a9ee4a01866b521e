"""``LEDGER_DATABASE_URL`` turned into a store location and the event store's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.utils import resolve_topic

from adapters.durability import DurablePostgresFactory, DurableSQLiteFactory
from adapters.persistence import (
    DatabaseUrlError,
    PostgresLocation,
    SQLiteLocation,
    eventsourcing_settings,
    parse_database_url,
)

CIPHER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def test_three_slashes_name_a_path_relative_to_the_working_directory() -> None:
    assert parse_database_url("sqlite:///rel/x.sqlite3") == SQLiteLocation(Path("rel/x.sqlite3"))


def test_four_slashes_name_an_absolute_path() -> None:
    assert parse_database_url("sqlite:////abs/x.sqlite3") == SQLiteLocation(Path("/abs/x.sqlite3"))


def test_a_bare_file_name_is_relative() -> None:
    location = parse_database_url("sqlite:///ledger.sqlite3")

    assert location == SQLiteLocation(Path("ledger.sqlite3"))
    assert isinstance(location, SQLiteLocation)
    assert not location.path.is_absolute()


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_database_url("  sqlite:///x.sqlite3\n") == SQLiteLocation(Path("x.sqlite3"))


def test_a_postgresql_url_gives_every_part_percent_decoded() -> None:
    location = parse_database_url(
        "postgresql://ledger%40ops:p%40ss%2Fw%3Ard%20x@db.example:6543/ledger%2Dprod"
    )

    assert location == PostgresLocation(
        host="db.example",
        port=6543,
        user="ledger@ops",
        password="p@ss/w:rd x",
        dbname="ledger-prod",
    )


def test_the_postgres_scheme_is_an_alias_of_postgresql() -> None:
    assert parse_database_url("postgres://u:pw@h:5433/db") == parse_database_url(
        "postgresql://u:pw@h:5433/db"
    )


def test_a_postgresql_url_without_port_user_or_password_takes_libpq_like_defaults() -> None:
    assert parse_database_url("postgresql://db.example/ledger") == PostgresLocation(
        host="db.example", port=5432, user="postgres", password="", dbname="ledger"
    )


def test_a_postgresql_url_without_a_host_connects_to_localhost() -> None:
    location = parse_database_url("postgresql:///ledger")

    assert isinstance(location, PostgresLocation)
    assert (location.host, location.dbname) == ("localhost", "ledger")


def test_the_schema_query_parameter_names_the_schema() -> None:
    location = parse_database_url("postgresql://u@h/db?schema=audit")

    assert isinstance(location, PostgresLocation)
    assert location.schema == "audit"


def test_the_host_query_parameter_names_a_socket_directory() -> None:
    location = parse_database_url("postgres://u:pw@/db?host=/var/run/postgresql&schema=s1")

    assert location == PostgresLocation(
        host="/var/run/postgresql", port=5432, user="u", password="pw", dbname="db", schema="s1"
    )


def test_an_ipv6_host_is_given_without_brackets() -> None:
    location = parse_database_url("postgresql://u@[::1]:5433/db")

    assert isinstance(location, PostgresLocation)
    assert (location.host, location.port) == ("::1", 5433)


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("mysql://h/db", "unknown scheme"),
        ("SQLITE:///x.sqlite3", "unknown scheme"),
        ("ledger.sqlite3", "not a URL"),
        ("sqlite://", "SQLite"),
        ("sqlite:///", "SQLite"),
        ("sqlite://x.sqlite3", "SQLite"),
        ("sqlite:///x.sqlite3?mode=ro", "SQLite"),
        ("sqlite:///var/", "SQLite"),
        ("postgresql://h", "database"),
        ("postgresql://h/", "database"),
        ("postgresql://h/db/extra", "database"),
        ("postgresql://h:abc/db", "port"),
        ("postgresql://h:99999/db", "port"),
        ("postgresql://h/db?sslmode=require", "sslmode"),
        ("postgresql://h/db?schema=s&options=x", "options"),
    ],
    ids=[
        "unknown-scheme",
        "scheme-in-capitals",
        "no-scheme",
        "sqlite-without-path",
        "sqlite-root-only",
        "sqlite-with-a-host",
        "sqlite-with-a-query",
        "sqlite-directory",
        "postgres-without-database",
        "postgres-empty-database",
        "postgres-two-path-segments",
        "postgres-port-not-a-number",
        "postgres-port-out-of-range",
        "postgres-unknown-query-parameter",
        "postgres-one-unknown-among-known",
    ],
)
def test_an_unusable_url_is_refused_saying_why(url: str, cause: str) -> None:
    with pytest.raises(DatabaseUrlError, match=cause) as error:
        parse_database_url(url)

    assert "\n" not in str(error.value)


def test_a_refused_postgresql_url_never_repeats_its_password() -> None:
    with pytest.raises(DatabaseUrlError) as error:
        parse_database_url("postgresql://u:hunter2@h:abc/db")

    assert "hunter2" not in str(error.value)


def test_sqlite_settings_name_the_durable_sqlite_factory_and_the_file() -> None:
    settings = eventsourcing_settings(SQLiteLocation(Path("/abs/x.sqlite3")), None)

    assert settings["PERSISTENCE_MODULE"] == "adapters.durability:DurableSQLiteFactory"
    assert resolve_topic(settings["PERSISTENCE_MODULE"]) is DurableSQLiteFactory
    assert settings["SQLITE_DBNAME"] == "/abs/x.sqlite3"
    assert int(settings["SQLITE_LOCK_TIMEOUT"]) > 0


def test_postgres_settings_name_the_durable_postgres_factory_and_the_server() -> None:
    location = PostgresLocation(
        host="db.example", port=6543, user="ledger", password="pw", dbname="db", schema="s1"
    )

    settings = eventsourcing_settings(location, None)

    assert settings["PERSISTENCE_MODULE"] == "adapters.durability:DurablePostgresFactory"
    assert resolve_topic(settings["PERSISTENCE_MODULE"]) is DurablePostgresFactory
    assert settings["POSTGRES_HOST"] == "db.example"
    assert settings["POSTGRES_PORT"] == "6543"
    assert settings["POSTGRES_USER"] == "ledger"
    assert settings["POSTGRES_PASSWORD"] == "pw"
    assert settings["POSTGRES_DBNAME"] == "db"
    assert settings["POSTGRES_SCHEMA"] == "s1"


@pytest.mark.parametrize(
    "location",
    [SQLiteLocation(Path("x.sqlite3")), PostgresLocation("h", 5432, "u", "", "db")],
    ids=["sqlite", "postgres"],
)
def test_a_cipher_key_wraps_the_data_keys_and_leaves_event_states_to_them(
    location: SQLiteLocation | PostgresLocation,
) -> None:
    settings = eventsourcing_settings(location, CIPHER_KEY)

    assert settings["DATA_KEYS_MASTER"] == CIPHER_KEY
    assert "CIPHER_TOPIC" not in settings


@pytest.mark.parametrize("cipher_key", [None, ""], ids=["none", "empty"])
@pytest.mark.parametrize(
    "location",
    [SQLiteLocation(Path("x.sqlite3")), PostgresLocation("h", 5432, "u", "", "db")],
    ids=["sqlite", "postgres"],
)
def test_without_a_cipher_key_payloads_are_stored_unencrypted(
    location: SQLiteLocation | PostgresLocation, cipher_key: str | None
) -> None:
    settings = eventsourcing_settings(location, cipher_key)

    assert "CIPHER_TOPIC" not in settings
    assert "CIPHER_KEY" not in settings


def test_every_setting_is_a_string() -> None:
    for location in (SQLiteLocation(Path("x")), PostgresLocation("h", 1, "u", "p", "d")):
        settings = eventsourcing_settings(location, CIPHER_KEY)

        assert settings
        assert all(isinstance(value, str) for value in settings.values())


def test_conninfo_quotes_every_value_and_leaves_out_empty_ones() -> None:
    location = PostgresLocation(host="h", port=5432, user="o'brien", password="", dbname="a\\b")

    assert location.conninfo() == "host='h' port='5432' user='o\\'brien' dbname='a\\\\b'"
