"""Where the ledger is stored: database URLs turned into the event store's settings.

The ledger uses the eventsourcing library's own SQLite and PostgreSQL recorders;
this module only translates ``LEDGER_DATABASE_URL`` into the library's settings and
points them at the durable connection set-up in ``adapters.durability``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

SQLITE_LOCK_TIMEOUT_SECONDS = 5
POSTGRES_CONNECT_TIMEOUT_SECONDS = 3


class DatabaseUrlError(ValueError):
    """A database URL the ledger cannot use; the text says why."""


@dataclass(frozen=True)
class SQLiteLocation:
    """An SQLite database file."""

    path: Path


@dataclass(frozen=True)
class PostgresLocation:
    """A PostgreSQL database, and optionally a schema within it."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    schema: str = ""

    def conninfo(self) -> str:
        """A libpq connection string for tools that connect on their own."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
        }
        return " ".join(f"{k}='{_libpq_quote(v)}'" for k, v in parts.items() if v != "")


StoreLocation = SQLiteLocation | PostgresLocation


def _libpq_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def parse_database_url(url: str) -> StoreLocation:
    """``sqlite:///rel.sqlite3``, ``sqlite:////abs.sqlite3`` or ``postgresql://...``."""
    url = url.strip()
    scheme, _, rest = url.partition("://")
    if not _:
        raise DatabaseUrlError(f"not a URL: {url!r}")
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise DatabaseUrlError(
                "an SQLite URL is sqlite:///relative/path or sqlite:////abs/path"
            )
        path = rest[1:]
        if "?" in path or path.endswith("/"):
            raise DatabaseUrlError("an SQLite URL names a file, with no query")
        return SQLiteLocation(Path(path))
    if scheme in ("postgresql", "postgres"):
        return _parse_postgres(url)
    raise DatabaseUrlError(f"unknown scheme {scheme!r}: use sqlite or postgresql")


def _parse_postgres(url: str) -> PostgresLocation:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"host", "schema"}
    if unknown:
        raise DatabaseUrlError(f"unsupported query parameter(s): {', '.join(sorted(unknown))}")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise DatabaseUrlError("a PostgreSQL URL names one database: postgresql://.../dbname")
    try:
        port = parts.port or 5432
    except ValueError:
        raise DatabaseUrlError("the port is not a number") from None
    host = query.get("host") or unquote(parts.hostname or "") or "localhost"
    return PostgresLocation(
        host=host,
        port=port,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
        schema=query.get("schema", ""),
    )


def eventsourcing_settings(
    location: StoreLocation, cipher_key: str | None, *, create_tables: bool = True
) -> dict[str, str]:
    """The library's settings for an application stored at ``location``.

    Only one place should create the tables (and PostgreSQL functions) at start-up:
    concurrent ``CREATE OR REPLACE FUNCTION`` statements fail on PostgreSQL.
    """
    settings: dict[str, str] = {
        "TRANSCODER_TOPIC": "adapters.transcodings:FastJSONTranscoder",
        "CREATE_TABLE": "y" if create_tables else "n",
        # Writers keep recent verifications in memory and read only newer events.
        "AGGREGATE_CACHE_MAXSIZE": "5000",
    }
    if cipher_key:  # it wraps the data keys that seal payloads (adapters.data_keys)
        settings["DATA_KEYS_MASTER"] = cipher_key
    if isinstance(location, SQLiteLocation):
        return settings | {
            "PERSISTENCE_MODULE": "adapters.durability:DurableSQLiteFactory",
            "SQLITE_DBNAME": str(location.path),
            "SQLITE_LOCK_TIMEOUT": str(SQLITE_LOCK_TIMEOUT_SECONDS),
        }
    return settings | {
        "PERSISTENCE_MODULE": "adapters.durability:DurablePostgresFactory",
        "POSTGRES_DBNAME": location.dbname,
        "POSTGRES_HOST": location.host,
        "POSTGRES_PORT": str(location.port),
        "POSTGRES_USER": location.user,
        "POSTGRES_PASSWORD": location.password,
        "POSTGRES_SCHEMA": location.schema,
        "POSTGRES_CONNECT_TIMEOUT": str(POSTGRES_CONNECT_TIMEOUT_SECONDS),
        # No ping before each checkout: under load it is a round trip per batch. After a
        # connection error the ledger has the pool test its connections (Ledger._write_batch).
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "12",
        "POSTGRES_LOCK_TIMEOUT": "5",
    }
