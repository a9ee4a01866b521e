"""The service as it is deployed: ``ledger serve`` with its projection workers running.

    .venv/bin/python -m bench.live_bench [--stores sqlite,postgres] [--seconds 30]
                                         [--ingest-seconds 10] [--runs 3] [--read-seconds 15]
                                         [--connections 32] [--json PATH]

For each store, in one run on one machine, each server on a fresh store (a new SQLite
file, a new PostgreSQL database), measured from the outside over HTTP:

1. ingest with the projections on and off: wrk (32 connections, distinct signed ~3 KB
   bodies, as ``bench.ingest_bench``) against ``ledger serve --no-projections``, against
   ``ledger serve`` and against ``ledger serve`` with ``LEDGER_TREE_FOLLOWER=off``, rotated,
   ``--runs`` times; medians. The figure is the requests/s with projections on, its
   ceiling the requests/s without them; the Merkle tree's cost is the requests/s with its
   follower over those without it (projections on in both). A fourth kind of run,
   ``--no-projections`` beside a busy loop at Linux's lowest priority (``SCHED_IDLE``,
   which yields to any other process at once), shows what any other work on the
   machine costs the ingest, however politely it runs. Each run also gives the whole
   machine's CPU time per request (``/proc/stat``), from the start of wrk until the
   projections have caught up with what it sent: projections on less off is what the
   projections cost an event, every process and database backend included.
2. projections during a sustained ingest: unthrottled wrk for ``--seconds`` against
   ``ledger serve`` while ``GET /readyz`` is polled (every 100 ms, every 20 ms near the
   end and after it). From the ledger's head (``position``) and the slowest projection's
   place (``position`` minus the largest ``projectionLag``): the ingest's events/s, the
   projections' events/s over the same window, the largest lag seen, and the time from
   the last delivery to every lag being 0 (given up after ``--catch-up-limit`` seconds).
3. read-your-writes: a paced client posts signed deliveries at half the ingest rate of
   (2); after the answer of every ``--read-every``-th one it reads
   ``GET /verifications/{scanRef}?minPosition={position}`` and times the read, from the
   webhook's answer to the read's answer.
4. the fsync latency of a 4 KB write in the folder the ledgers are in, since durable
   commits set the pace.

The peak RSS of the service (every process of it) is taken from the servers that run
the projections. PostgreSQL comes from ``LEDGER_TEST_DATABASE_URL`` or a throwaway
cluster (a fresh ``ledger_live`` database for each server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ingest_bench import (
    KEY,
    ledger_command,
    measure,
    medians,
    peak_rss_of_tree,
    post_script,
    recreate_database,
    serving,
    signed_bodies,
    wrk_command,
    wrk_figures,
)
from bench.replay_bench import server_version
from bench.report import fsync_times
from tests.support.postgres import free_port, server_url
from tests.support.process import clean_environment

BACKEND_TOKEN = "bench-live-backend-token"  # noqa: S105 (a throwaway server on loopback)
DATABASE = "ledger_live"
# The most deliveries a second the service is expected to take, to size the bodies of
# the sustained run so that none is sent twice (a repeat is a duplicate, not an event).
MOST_RATE = 6_000
POLL_SECONDS = 0.1
FAST_POLL_SECONDS = 0.02
READY_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 15.0
MAX_READS_IN_FLIGHT = 256
WEBHOOK = "/webhooks/idenfy/auto-finished"


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` from 0 to 100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(len(ordered) * share / 100)
    return ordered[min(len(ordered) - 1, max(0, rank - 1))]


@dataclass(frozen=True)
class Sample:
    """One answer of ``/readyz``: when it arrived, the ledger's head and each lag."""

    at: float
    head: int
    lags: dict[str, int]

    @property
    def lag(self) -> int:
        return max(self.lags.values())

    @property
    def tracked(self) -> int:
        """How far the slowest projection has got."""
        return self.head - self.lag


class Readiness:
    """Polls ``GET /readyz`` over one keep-alive connection; 200 and 503 both carry JSON."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def sample(self) -> Sample | None:
        """The service's answer, or None when it gave none that says where everything is."""
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self.connection.request("GET", "/readyz")
            answer = json.loads(self.connection.getresponse().read())
        except (OSError, http.client.HTTPException, ValueError):
            self.close()
            return None
        at = time.monotonic()
        lags = answer.get("projectionLag") or {}
        if "position" not in answer or not lags or None in lags.values():
            return None
        return Sample(at, int(answer["position"]), {k: int(v) for k, v in lags.items()})

    def wait_caught_up(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sample = self.sample()
            if sample is not None and sample.lag == 0:
                return
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"the projections did not report a lag of 0 within {timeout:.0f} s")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def at(samples: list[Sample], when: float, value: Callable[[Sample], int]) -> float:
    """``value`` at ``when``, interpolated between the samples around it."""
    before = [s for s in samples if s.at <= when]
    after = [s for s in samples if s.at >= when]
    if not before:
        return float(value(samples[0]))
    if not after:
        return float(value(samples[-1]))
    low, high = before[-1], after[0]
    if high.at == low.at:
        return float(value(low))
    share = (when - low.at) / (high.at - low.at)
    return value(low) + share * (value(high) - value(low))


def sustained(port: int, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Projection throughput during an unthrottled wrk run, and the catch-up after it."""
    readiness = Readiness(port)
    try:
        readiness.wait_caught_up()
        command = wrk_command(port, script, args.seconds, args.connections)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            samples = poll_while(process, readiness, args.seconds)
            out = process.communicate(timeout=30)[0]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed (exit status {process.returncode}): {out}")
        ended = time.monotonic()
        samples += poll_until_caught_up(readiness, ended + args.catch_up_limit)
    finally:
        readiness.close()
    return {"wrk": wrk_figures(out), **catch_up(samples, args.seconds, ended)}


def poll_while(process: subprocess.Popen[str], readiness: Readiness, seconds: int) -> list[Sample]:
    """``/readyz`` every 100 ms while wrk runs, every 20 ms from a second before its end."""
    samples: list[Sample] = []
    first_growth = None
    deadline = time.monotonic() + seconds + 120  # wrk loads its bodies first
    while process.poll() is None:
        started = time.monotonic()
        if started > deadline:
            raise RuntimeError("wrk did not finish")
        sample = readiness.sample()
        if sample is not None:
            samples.append(sample)
            if first_growth is None and sample.head > 0:
                first_growth = sample.at
        # wrk's first thread starts sending before the second has loaded its bodies,
        # and the timed run starts with the second: it ends no earlier than this.
        near_end = first_growth is not None and started > first_growth + seconds - 1
        pause = FAST_POLL_SECONDS if near_end else POLL_SECONDS
        time.sleep(max(0.0, started + pause - time.monotonic()))
    return samples


def poll_until_caught_up(readiness: Readiness, deadline: float) -> list[Sample]:
    """``/readyz`` every 20 ms until every lag is 0 (or ``deadline``), at least once:
    deliveries that were in flight when wrk stopped may still be recorded."""
    samples: list[Sample] = []
    while True:
        started = time.monotonic()
        sample = readiness.sample()
        if sample is not None:
            samples.append(sample)
            if sample.lag == 0:
                return samples
        if started > deadline:
            if not samples:
                raise RuntimeError("/readyz did not answer after the sustained run")
            return samples
        time.sleep(max(0.0, started + FAST_POLL_SECONDS - time.monotonic()))


def catch_up(samples: list[Sample], seconds: float, ended: float) -> dict[str, Any]:
    """The figures of a sustained run from its ``/readyz`` samples (``ended``: wrk's exit).

    The last delivery is taken to be recorded at the first sample that shows the final
    head; the ingest window is the ``seconds`` before it.
    """
    final = samples[-1]
    last = next(s for s in samples if s.head == final.head)
    start = max(last.at - seconds, samples[0].at)
    span = max(last.at - start, 1e-9)
    ingest = (final.head - at(samples, start, lambda s: s.head)) / span
    tracked_then = at(samples, start, lambda s: s.tracked)
    projections = (at(samples, last.at, lambda s: s.tracked) - tracked_then) / span
    worst = max(samples, key=lambda s: s.lag)
    caught = next((s for s in samples if s.at >= last.at and s.lag == 0), None)
    after = final.at - last.at
    return {
        "seconds": span,
        "events": final.head,
        "ingest_rate": ingest,
        "projection_rate": projections,
        "ratio": projections / ingest if ingest else 0.0,
        "max_lag": worst.lag,
        "max_lag_projection": max(worst.lags, key=lambda name: worst.lags[name]),
        "catch_up_seconds": None if caught is None else caught.at - last.at,
        "lag_left": final.lag,
        "catch_up_rate": (final.tracked - last.tracked) / after if after > 0 else 0.0,
        "wrk_exit_after_last": ended - last.at,
        "samples": len(samples),
    }


class Connection:
    """A keep-alive HTTP/1.1 connection to the server on loopback, one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, message: bytes) -> tuple[int, bytes]:
        """Send one whole request; the answer's status and body.

        The server closes a connection that stayed idle (uvicorn: after 5 s); a request
        that meets such a closed connection before any answer goes again on a new one.
        """
        reused = self.streams is not None and not self.streams[0].at_eof()
        if not reused:
            self.close()
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            return await self._exchange(message)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.close()
            answered = isinstance(error, asyncio.IncompleteReadError) and error.partial
            if not reused or answered:
                raise
        self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        return await self._exchange(message)

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        assert self.streams is not None
        reader, writer = self.streams
        writer.write(message)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(b":") for line in lines[1:] if line)
        }
        if b"content-length" not in headers:
            raise ValueError("an answer without Content-Length")
        body = await reader.readexactly(int(headers[b"content-length"]))
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def webhook(raw: bytes, signature: str) -> bytes:
    head = (
        f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Idenfy-Signature: {signature}\r\nContent-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


def status_read(scan_ref: str, position: int) -> bytes:
    return (
        f"GET /verifications/{scan_ref}?minPosition={position} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {BACKEND_TOKEN}\r\n\r\n"
    ).encode()


def seen(document: bytes) -> int:
    """The ``lastPosition`` of a status document: the latest event it reflects."""
    try:
        return int(json.loads(document).get("lastPosition", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


FAILURES = (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError, IndexError)  # fmt: skip


async def read_your_writes(
    port: int, bodies: list[tuple[bytes, str]], rate: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Post ``bodies`` at ``rate`` a second from ``args.client_connections`` connections; read
    every ``args.read_every``-th delivery back at its position, each on a connection of
    its own so that a waiting read holds up no delivery."""
    # The client's own pauses are not the service's: what exists now (the bodies, above
    # all) is left out of its garbage collections while it measures.
    gc.collect()
    gc.freeze()
    # perf_counter, not the loop's clock: uvloop's counts whole milliseconds.
    start = time.perf_counter() + 0.05
    numbers = itertools.count()
    posted: list[float] = []
    reads: list[float] = []
    failures: Counter[str] = Counter()
    idle: list[Connection] = []
    slots = asyncio.Semaphore(MAX_READS_IN_FLIGHT)
    pending: set[asyncio.Task[None]] = set()
    last = start

    async def read(scan_ref: str, position: int, answered: float) -> None:
        async with slots:
            connection = idle.pop() if idle else Connection(port)
            try:
                status, body = await asyncio.wait_for(
                    connection.request(status_read(scan_ref, position)), REQUEST_TIMEOUT_SECONDS
                )
            except FAILURES:
                connection.close()
                failures["read: no answer"] += 1
                return
            reads.append((time.perf_counter() - answered) * 1000)
            idle.append(connection)
            if status != 200:
                failures[f"read: {status}"] += 1
            elif seen(body) < position:
                failures["read: without the write"] += 1

    async def sender() -> None:
        nonlocal last
        connection = Connection(port)
        try:
            while (number := next(numbers)) < len(bodies):
                await asyncio.sleep(max(0.0, start + number / rate - time.perf_counter()))
                sent = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(
                        connection.request(webhook(*bodies[number])), REQUEST_TIMEOUT_SECONDS
                    )
                except FAILURES:
                    connection.close()
                    failures["webhook: no answer"] += 1
                    continue
                answered = last = time.perf_counter()
                posted.append((answered - sent) * 1000)
                try:
                    answer = json.loads(body) if status == 200 else {}
                except ValueError:
                    answer = {}
                if answer.get("result") != "recorded":
                    failures[f"webhook: {status} {answer.get('result', '')}".strip()] += 1
                elif number % args.read_every == 0:
                    task = asyncio.create_task(
                        read(answer["scanRef"], answer["position"], answered)
                    )
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        finally:
            connection.close()

    await asyncio.gather(*(sender() for _ in range(args.client_connections)))
    if pending:
        await asyncio.wait(set(pending), timeout=REQUEST_TIMEOUT_SECONDS + 5)
        for task in list(pending):
            task.cancel()
            failures["read: no answer"] += 1
    for connection in idle:
        connection.close()
    gc.unfreeze()
    return {
        "target_rate": rate,
        "rate": len(posted) / max(last - start, 1e-9),
        "deliveries": len(posted),
        "webhook_p50": percentile(posted, 50),
        "webhook_p99": percentile(posted, 99),
        "reads": len(reads),
        "read_every": args.read_every,
        "p50": percentile(reads, 50),
        "p99": percentile(reads, 99),
        "max": max(reads, default=0.0),
        "failures": dict(failures),
        "failed_reads": sum(n for name, n in failures.items() if name.startswith("read")),
    }


def run_async(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """``coroutine`` on uvloop when it is there (as the server's own loop is)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


class Store:
    """A fresh store for each server, and the environment that points a server at it.

    SQLite: a new file in ``folder``; PostgreSQL: a new database, on the server of
    ``LEDGER_TEST_DATABASE_URL`` or a throwaway cluster that lasts as long as ``stack``.
    """

    def __init__(self, store: str, folder: Path, stack: ExitStack) -> None:
        self.store, self.folder = store, folder
        self.url = stack.enter_context(server_url()) if store == "postgres" else ""
        self.servers = 0

    def environment(self) -> dict[str, str]:
        self.servers += 1
        if self.store == "sqlite":
            database = f"sqlite:///{self.folder / f'live-{self.servers}.sqlite3'}"
        else:
            database = recreate_database(self.url, DATABASE)
        return clean_environment(
            {
                "LEDGER_DATABASE_URL": database,
                "IDENFY_SIGNING_KEYS": KEY,
                "LEDGER_API_KEYS": f"backend:{BACKEND_TOKEN}",
            }
        )


def caught_up(port: int) -> None:
    """Once every projection of the server on ``port`` has a lag of 0."""
    readiness = Readiness(port)
    try:
        readiness.wait_caught_up()
    finally:
        readiness.close()


BUSY_LOOP = """
import os
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
while True:
    pass
"""


@contextlib.contextmanager
def busy_loop(wanted: bool) -> Iterator[None]:
    """One core kept busy at the lowest priority while the block runs, when ``wanted``."""
    if not wanted:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        yield
    finally:
        process.kill()
        process.wait()


def serve(projections: bool, port: int) -> list[str]:
    flags = [] if projections else ["--no-projections"]
    return ledger_command("serve", *flags, "--port", str(port))


def run_store(stores: Store, args: argparse.Namespace, scripts: dict[str, Path]) -> dict[str, Any]:
    store = stores.store
    rss: list[tuple[float, float]] = []

    # 1. Ingest with the projections (and the Merkle tree's follower) on, with the
    # projections but no tree follower, with neither, and with neither beside a busy loop
    # of the lowest priority; rotated so none always goes first.
    modes = ("off", "on", "untreed", "beside")
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    timing = argparse.Namespace(seconds=args.ingest_seconds, connections=args.connections)
    for run in range(args.runs):
        shift = run % len(modes)
        for mode in modes[shift:] + modes[:shift]:
            port = free_port()
            command = serve(mode in ("on", "untreed"), port)
            env = stores.environment()
            if mode == "untreed":
                env["LEDGER_TREE_FOLLOWER"] = "off"
            with busy_loop(mode == "beside"):
                settled = caught_up if mode in ("on", "untreed") else None
                runs[mode].append(measure(command, env, port, timing, scripts["short"], settled))
    rss += [(r["rss"], r["rss_all"]) for r in runs["on"]]
    ingest: dict[str, Any] = {mode: medians(figures) for mode, figures in runs.items()}
    ingest["ratio"] = ingest["on"]["rps"] / ingest["off"]["rps"]
    ingest["ratios"] = [
        on["rps"] / off["rps"] for on, off in zip(runs["on"], runs["off"], strict=True)
    ]
    ingest["tree_ratio"] = ingest["on"]["rps"] / ingest["untreed"]["rps"]
    ingest["beside_ratio"] = ingest["beside"]["rps"] / ingest["off"]["rps"]
    print(
        f"{store}: ingest {ingest['on']['rps']:,.0f}/s with projections,"
        f" {ingest['off']['rps']:,.0f}/s without ({ingest['ratio']:.2f});"
        f" {ingest['untreed']['rps']:,.0f}/s with projections but no tree follower"
        f" (tree ratio {ingest['tree_ratio']:.2f}); {ingest['beside']['rps']:,.0f}/s without"
        f" projections beside a lowest-priority busy loop ({ingest['beside_ratio']:.2f})",
        flush=True,
    )

    # 2. A sustained ingest at the highest rate the service takes, and the projections.
    port = free_port()
    with serving(serve(True, port), stores.environment(), port) as pid:
        during = sustained(port, scripts["long"], args)
        rss.append(peak_rss_of_tree(pid))
    caught = during["catch_up_seconds"]
    late = f"{caught:.2f} s" if caught is not None else f"not within {args.catch_up_limit:.0f} s"
    print(
        f"{store}: sustained ingest {during['ingest_rate']:,.0f} events/s, projections"
        f" {during['projection_rate']:,.0f} events/s, largest lag {during['max_lag']:,},"
        f" caught up after the last delivery: {late}",
        flush=True,
    )

    # 3. Read-your-writes at half the highest ingest rate.
    highest = during["ingest_rate"] or ingest["on"]["rps"]
    rate = args.read_rate or max(highest / 2, 1.0)
    count = max(int(rate * args.read_seconds), 1)
    # Bodies of their own (other scanRefs than wrk's), made before the clock starts.
    bodies = [(raw.encode(), sig) for raw, sig in signed_bodies(count, seed=11, prefix="live")]
    port = free_port()
    with serving(serve(True, port), stores.environment(), port) as pid:
        readiness = Readiness(port)
        readiness.wait_caught_up()
        readiness.close()
        reads = run_async(read_your_writes(port, bodies, rate, args))
        rss.append(peak_rss_of_tree(pid))
    print(
        f"{store}: read-your-writes at {reads['rate']:,.0f}/s: p50 {reads['p50']:.1f} ms,"
        f" p99 {reads['p99']:.1f} ms, {reads['failed_reads']} failed reads",
        flush=True,
    )
    result = {
        "ingest": ingest,
        "sustained": during,
        "read_your_writes": reads,
        "rss": max(r[0] for r in rss),
        "rss_all": max(r[1] for r in rss),
    }
    if store == "postgres":
        result["server_version"] = server_version(stores.url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=30, help="the sustained ingest (2)")
    parser.add_argument("--ingest-seconds", type=int, default=10, help="each ingest run (1)")
    parser.add_argument("--runs", type=int, default=3, help="ingest runs (1) of each kind")
    parser.add_argument("--read-seconds", type=float, default=15, help="read-your-writes (3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's (1, 2)")
    parser.add_argument(
        "--client-connections", type=int, default=64, help="the paced client's, at most (3)"
    )
    parser.add_argument("--bodies", type=int, default=80_000, help="distinct bodies for (1)")
    parser.add_argument(
        "--sustained-bodies", type=int, default=0, help=f"for (2) (default {MOST_RATE:,} x seconds)"
    )
    parser.add_argument("--read-every", type=int, default=5, help="read back every n-th (3)")
    parser.add_argument(
        "--read-rate", type=float, default=0, help="deliveries/s for (3) (default: half of (2))"
    )
    parser.add_argument(
        "--catch-up-limit", type=float, default=120, help="seconds to wait for a lag of 0 (2)"
    )
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    if not set(args.stores.split(",")) <= {"sqlite", "postgres"}:
        parser.error("--stores takes sqlite, postgres or both, separated by a comma")
    args.sustained_bodies = args.sustained_bodies or MOST_RATE * args.seconds
    results: dict[str, Any] = {
        "load_before": os.getloadavg()[0],
        "settings": {k: v for k, v in vars(args).items() if k not in ("stores", "json")},
    }
    with (
        tempfile.TemporaryDirectory(prefix="ledger-live-", ignore_cleanup_errors=True) as name,
        ExitStack() as stack,
    ):
        folder = Path(name)
        # Durable commits set the pace: the fsync latency where the ledgers are.
        times = fsync_times(name, 300)
        median, p99 = percentile(times, 50), percentile(times, 99)
        results["fsync"] = {"median_ms": median, "p99_ms": p99, "count": len(times)}
        print(f"fsync of 4 KB: median {median:.2f} ms, p99 {p99:.2f} ms", flush=True)
        scripts = {}
        for part, count in (("short", args.bodies), ("long", args.sustained_bodies)):
            (folder / part).mkdir()
            scripts[part] = post_script(folder / part, count)
        for store in args.stores.split(","):
            results[store] = run_store(Store(store, folder, stack), args, scripts)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
