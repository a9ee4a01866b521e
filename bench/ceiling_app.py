"""The ceiling for ingest: the simplest receiver that does the same work per delivery.

It checks the HMAC, decodes the body with msgspec and inserts the raw body with one
INSERT per request (SQLite in WAL with synchronous=FULL, or PostgreSQL with
synchronous_commit=on through psycopg's async pool), then answers 200.

    BENCH_KEY=... BENCH_DATABASE=sqlite:/path | postgres:<conninfo> uvicorn bench.ceiling_app:app
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEY = os.environ.get("BENCH_KEY", "bench").encode()
DATABASE = os.environ.get("BENCH_DATABASE", "sqlite:/tmp/ceiling.sqlite3")


class Payload(msgspec.Struct):
    scanRef: str


decoder = msgspec.json.Decoder(Payload)
local = threading.local()
pool: AsyncConnectionPool | None = None


def sqlite_insert(body: bytes) -> None:
    connection = getattr(local, "connection", None)
    if connection is None:
        connection = sqlite3.connect(DATABASE.removeprefix("sqlite:"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=5000")
        local.connection = connection
    connection.execute("INSERT INTO raw (body) VALUES (?)", (body,))


async def receive(request: Request) -> Response:
    body = await request.body()
    expected = hmac.new(KEY, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("idenfy-signature", "")):
        return JSONResponse({"error": "signature"}, status_code=401)
    payload = decoder.decode(body)
    if pool is None:
        await run_in_threadpool(sqlite_insert, body)
    else:
        async with pool.connection() as connection:
            await connection.execute("INSERT INTO raw (body) VALUES (%s)", (body,))
    return JSONResponse({"result": "recorded", "scanRef": payload.scanRef})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    if DATABASE.startswith("postgres:"):
        pool = AsyncConnectionPool(
            DATABASE.removeprefix("postgres:"),
            min_size=8,
            max_size=16,
            kwargs={"autocommit": True, "options": "-c synchronous_commit=on"},
            open=False,
        )
        await pool.open()
        async with pool.connection() as connection:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS raw (id bigserial PRIMARY KEY, body bytea)"
            )
    else:
        setup = sqlite3.connect(DATABASE.removeprefix("sqlite:"))
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, body BLOB)")
        setup.close()
    yield
    if pool is not None:
        await pool.close()


app = Starlette(
    routes=[Route("/webhooks/idenfy/{kind}", receive, methods=["POST"])], lifespan=lifespan
)
