"""Read speed: status reads, timelines and the NDJSON export of a large ledger.

    .venv/bin/python -m bench.reads_bench [--events 1000000] [--pg-events 200000]
                                          [--stores sqlite,postgres] [--seconds 10]
                                          [--connections 16] [--timeline-connections 4]
                                          [--json PATH]

For each store, in one run on one machine:

1. fill a fresh ledger with ``events`` events (histories of 4 events, saved in large
   transactions by ``bench.replay_bench.fill``);
2. build the three projections with ``app.service.replay.replay`` (its events/s is reported);
3. the ceiling for status reads: a plain Starlette app (``ceiling_app`` below) that
   checks the bearer token and answers the stored status document of the same
   views, read by primary key, measured with the same wrk script;
4. start ``ledger serve --no-projections`` (one uvicorn worker) on it, then with wrk
   and random scanRefs measure ``GET /verifications/{scanRef}`` with a backend token
   and ``GET /verifications/{scanRef}/timeline`` with an auditor token (every auditor
   read also commits an access-log row, so the timeline is a write path too);
5. stream ``GET /audit/events?format=ndjson`` with a plain HTTP client, counting
   lines, while sampling the server's RSS (``/proc/PID/status``).

The server's peak RSS over the whole run (``VmHWM``) is reported at the end.
PostgreSQL comes from ``LEDGER_TEST_DATABASE_URL`` or a throwaway cluster (a fresh
``ledger_reads`` database on it).
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.durability import views_path
from adapters.persistence import (
    PostgresLocation,
    SQLiteLocation,
    eventsourcing_settings,
    parse_database_url,
)
from app.bootstrap import ledger_settings, open_views
from app.config import Settings
from app.service.ledger import Ledger
from app.service.replay import replay
from bench.ingest_bench import peak_rss_mb, recreate_database, wait_up, wrk
from bench.replay_bench import PER_SAVE, fill, flush_to_disk, server_version
from tests.support.postgres import free_port, server_url

SIGNING_KEY = "bench-signing-key"
BACKEND_TOKEN = "bench-reads-backend-token"  # noqa: S105 (a throwaway server on loopback)
AUDITOR_TOKEN = "bench-reads-auditor-token"  # noqa: S105
LUA = """
local refs, threads = {}, 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  for line in io.lines("REFS") do refs[#refs + 1] = line end
  math.randomseed(7919 * ((tonumber(wrk.thread:get("id")) or 0) + 1))
end
function request()
  local ref = refs[math.random(#refs)]
  return wrk.format("GET", "/verifications/" .. ref .. "SUFFIX",
    {["Authorization"] = "Bearer TOKEN"})
end
"""


# The ceiling for status reads, configured by the environment of its process.
CEILING_DATABASE = os.environ.get("BENCH_DATABASE", "")
CEILING_TABLE = os.environ.get("BENCH_TABLE", "")
_expected = f"Bearer {BACKEND_TOKEN}".encode()
_local = threading.local()
_pool: AsyncConnectionPool | None = None


def _sqlite_document(scan_ref: str) -> Any:
    connection = getattr(_local, "connection", None)
    if connection is None:
        path = CEILING_DATABASE.removeprefix("sqlite:")
        connection = _local.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    statement = f"SELECT document FROM {CEILING_TABLE} WHERE scan_ref = ?"
    return connection.execute(statement, (scan_ref,)).fetchone()


async def ceiling_status(request: Request) -> Response:
    """The least a status read does: check the token, answer the stored document."""
    if not hmac.compare_digest(request.headers.get("authorization", "").encode(), _expected):
        return JSONResponse({"error": "unknown API token"}, status_code=401)
    scan_ref = request.path_params["scan_ref"]
    if _pool is None:
        row = _sqlite_document(scan_ref)  # a primary-key read: microseconds, on the loop
    else:
        async with _pool.connection() as connection:
            cursor = await connection.execute(
                f"SELECT document FROM {CEILING_TABLE} WHERE scan_ref = %s", (scan_ref,)
            )
            row = await cursor.fetchone()
    if row is None:
        return JSONResponse({"error": f"no verification {scan_ref!r}"}, status_code=404)
    return Response(row[0], media_type="application/json")


@asynccontextmanager
async def ceiling_lifespan(app: Starlette) -> AsyncIterator[None]:
    global _pool
    if CEILING_DATABASE.startswith("postgres:"):
        conninfo = CEILING_DATABASE.removeprefix("postgres:")
        _pool = AsyncConnectionPool(
            conninfo, min_size=4, max_size=8, kwargs={"autocommit": True}, open=False
        )
        await _pool.open()
    yield
    if _pool is not None:
        await _pool.close()


ceiling_app = Starlette(
    routes=[Route("/verifications/{scan_ref}", ceiling_status)], lifespan=ceiling_lifespan
)


def ceiling_target(url: str) -> tuple[str, str]:
    """(BENCH_DATABASE, BENCH_TABLE) for the ceiling: the active status table of ``url``."""
    location = parse_database_url(url)
    settings = Settings(database_url=url, store=location, signing_keys=("k",))
    views = open_views(settings)
    table = views.status.rows_table(views.status.generation())
    views.close()
    if isinstance(location, SQLiteLocation):
        return f"sqlite:{views_path(location)}", table
    assert isinstance(location, PostgresLocation)
    return f"postgres:{location.conninfo()}", table


def served(
    command: list[str], env: dict[str, str], port: int, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
    except Exception:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def lua_script(folder: Path, name: str, refs: Path, suffix: str, token: str) -> Path:
    path = folder / f"{name}.lua"
    text = LUA.replace("REFS", str(refs)).replace("SUFFIX", suffix).replace("TOKEN", token)
    path.write_text(text)
    return path


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


class RssSampler:
    """The highest VmRSS of a process, sampled every few milliseconds in a thread."""

    def __init__(self, pid: int, every: float = 0.02):
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))


def stream_export(port: int, pid: int) -> dict[str, float]:
    """Read the whole NDJSON export, counting events and bytes, sampling the server's RSS."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    before = rss_mb(pid)
    lines = size = 0
    first = b""
    with RssSampler(pid) as sampler:
        started = time.perf_counter()
        connection.request(
            "GET",
            "/audit/events?format=ndjson",
            headers={"Authorization": f"Bearer {AUDITOR_TOKEN}"},
        )
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"/audit/events answered {response.status}: {response.read()!r}")
        while chunk := response.read(1 << 20):
            if not first:
                first = chunk.split(b"\n", 1)[0]
            lines += chunk.count(b"\n")
            size += len(chunk)
        seconds = time.perf_counter() - started
    connection.close()
    assert "position" in json.loads(first), first[:200]
    return {
        "events": lines,
        "seconds": seconds,
        "rate": lines / seconds,
        "mb": size / 2**20,
        "rss_before_mb": before,
        "rss_peak_mb": sampler.peak,
    }


def build(url: str, events: int) -> dict[str, Any]:
    """Fill a fresh ledger at ``url`` and build its projections."""
    store = "sqlite" if url.startswith("sqlite") else "postgres"
    settings = Settings(database_url=url, store=parse_database_url(url), signing_keys=("k",))
    ledger = Ledger(env=eventsourcing_settings(settings.store, None))
    started = time.perf_counter()
    events = fill(ledger, events, PER_SAVE[store])
    filled = time.perf_counter() - started
    ledger.close()
    print(f"{store}: filled {events:,} events in {filled:.1f} s", flush=True)
    flush_to_disk()
    views = open_views(settings)
    replayed = Ledger(env=ledger_settings(settings))
    summary = replay(replayed, views.sql, drop_grace=0)
    replayed.close()
    views.close()
    print(
        f"{store}: replay {summary.events:,} events in {summary.seconds:.1f} s"
        f" ({summary.rate:,.0f} events/s)",
        flush=True,
    )
    return {
        "events": events,
        "fill_seconds": filled,
        "replay_rate": summary.rate,
        "replay_seconds": summary.seconds,
    }


def measure(url: str, events: int, args: Any, folder: Path) -> dict[str, Any]:
    store = "sqlite" if url.startswith("sqlite") else "postgres"
    result = build(url, events)
    refs = folder / f"refs-{store}.txt"
    refs.write_text("".join(f"bench-{n:09d}\n" for n in range(result["events"] // 4)))
    status_lua = lua_script(folder, f"status-{store}", refs, "", BACKEND_TOKEN)
    timeline_lua = lua_script(folder, f"timeline-{store}", refs, "/timeline", AUDITOR_TOKEN)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "IDENFY_"))}
    log = folder / f"serve-{store}.log"
    warm_up = min(2, args.seconds)
    database, table = ceiling_target(url)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.reads_bench:ceiling_app"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    env = {**base, "BENCH_DATABASE": database, "BENCH_TABLE": table}
    process = served(command, env, port, log)
    try:
        wrk(port, status_lua, warm_up, args.connections)
        result["status_ceiling"] = wrk(port, status_lua, args.seconds, args.connections)
        result["status_ceiling"]["rss"] = peak_rss_mb(process.pid)
    finally:
        stop(process)
    print(f"{store}: status   {fmt(result['status_ceiling'])}  (ceiling)", flush=True)
    env = {
        **base,
        "LEDGER_DATABASE_URL": url,
        "IDENFY_SIGNING_KEYS": SIGNING_KEY,
        "LEDGER_API_KEYS": f"backend:{BACKEND_TOKEN},auditor:{AUDITOR_TOKEN}",
    }
    port = free_port()
    command = [str(Path(sys.executable).parent / "ledger"), "serve", "--no-projections"]
    command += ["--port", str(port)]
    command += ["--workers", str(args.workers)] if args.workers > 1 else []
    process = served(command, env, port, log)
    try:
        pid = server_pid(process.pid, args.workers)
        result["rss_idle_mb"] = rss_mb(pid)
        wrk(port, status_lua, warm_up, args.connections)
        result["status"] = wrk(port, status_lua, args.seconds, args.connections)
        result["status"]["connections"] = args.connections
        print(f"{store}: status   {fmt(result['status'])}", flush=True)
        result["timeline"] = wrk(port, timeline_lua, args.seconds, args.timeline_connections)
        result["timeline"]["connections"] = args.timeline_connections
        print(f"{store}: timeline {fmt(result['timeline'])}", flush=True)
        export = stream_export(port, pid)
        result["export"] = export
        print(
            f"{store}: export   {export['events']:,.0f} events, {export['mb']:,.0f} MB in"
            f" {export['seconds']:.1f} s = {export['rate']:,.0f} events/s; server RSS"
            f" {export['rss_before_mb']:.0f} MB before, {export['rss_peak_mb']:.0f} MB at peak",
            flush=True,
        )
        result["server_hwm_mb"] = peak_rss_mb(pid)
        print(f"{store}: server peak RSS (VmHWM) {result['server_hwm_mb']:.0f} MB", flush=True)
    except Exception:
        print(f"--- {log} (tail) ---\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        stop(process)
    return result


def server_pid(parent: int, workers: int) -> int:
    """The process serving requests: ``ledger serve`` itself, or its first worker."""
    if workers <= 1:
        return parent
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return int(children[-1]) if children else parent


def fmt(figures: dict[str, float]) -> str:
    return (
        f"{figures['rps']:8,.0f} req/s  p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f}"
        f" ms  non-2xx {figures['errors']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="SQLite ledger size")
    parser.add_argument("--pg-events", type=int, default=200_000, help="PostgreSQL ledger size")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=10, help="per wrk measurement")
    parser.add_argument("--connections", type=int, default=16, help="for status reads")
    parser.add_argument("--timeline-connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="ledger-reads-"))
    results: dict[str, Any] = {
        "load_before": os.getloadavg()[0],
        "settings": {
            "seconds": args.seconds,
            "connections": args.connections,
            "timeline_connections": args.timeline_connections,
            "workers": args.workers,
        },
    }
    try:
        with ExitStack() as stack:
            for store in args.stores.split(","):
                if store == "sqlite":
                    url = f"sqlite:///{folder / 'ledger.sqlite3'}"
                    results[store] = measure(url, args.events, args, folder)
                else:
                    url = recreate_database(stack.enter_context(server_url()), "ledger_reads")
                    results[store] = measure(url, args.pg_events, args, folder)
                    results[store]["server_version"] = server_version(url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
