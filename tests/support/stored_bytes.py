"""Every byte a store holds, read as it lies: SQLite files and their write-ahead logs, or
every PostgreSQL table of the ledger's schema."""

from __future__ import annotations

from pathlib import Path

import psycopg

from adapters.persistence import PostgresLocation, parse_database_url


def sqlite_files(database_url: str) -> list[Path]:
    ledger = Path(database_url.removeprefix("sqlite:///"))
    views = ledger.with_name(f"{ledger.stem}-views{ledger.suffix}")
    return [ledger, Path(f"{ledger}-wal"), views, Path(f"{views}-wal")]


def every_stored_byte(database_url: str) -> dict[str, bytes]:
    """Every value of every table in the ledger's schema, as bytes, by table."""
    location = parse_database_url(database_url)
    assert isinstance(location, PostgresLocation)
    tables: dict[str, bytes] = {}
    with psycopg.connect(location.conninfo()) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (location.schema,),
            )
        ]
        for name in names:
            rows = conn.execute(f'SELECT * FROM "{location.schema}"."{name}"').fetchall()
            tables[name] = b"\x00".join(
                value if isinstance(value, bytes) else str(value).encode()
                for row in rows
                for value in row
            )
    return tables


def stored_bytes(database_url: str) -> dict[str, bytes]:
    """By file (SQLite) or table (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        return {p.name: p.read_bytes() for p in sqlite_files(database_url) if p.exists()}
    return every_stored_byte(database_url)
