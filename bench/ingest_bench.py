"""Ingest speed: the ledger against its ceiling, with wrk on loopback.

    .venv/bin/python -m bench.ingest_bench [--seconds 10] [--connections 32] [--runs 3]
                                            [--stores sqlite,postgres] [--json PATH]

For each store, in one run on one machine: start the ceiling receiver
(``bench.ceiling_app``) and then ``ledger serve --no-projections`` (one uvicorn
worker each), drive each with wrk posting distinct signed ~3 KB iDenfy bodies, and
print requests/s, p50, p99, the server's peak RSS, and the ledger's ratio to the
ceiling (medians of the runs). PostgreSQL comes from ``LEDGER_TEST_DATABASE_URL`` or a
throwaway cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from adapters.persistence import PostgresLocation, parse_database_url
from adapters.signing import sign
from app.cli.scenarios import Person
from tests.support.postgres import free_port, server_url
from tests.support.process import children_of, clean_environment

KEY = "bench-signing-key"
# Bodies per Lua function in the bodies file (two constants each, at most 65,536 a function).
LUA_CHUNK = 10_000
LUA = """
local bodies, counter, stride, seen = nil, 0, THREADS, 0
function setup(thread)
  thread:set("offset", seen)
  seen = seen + 1
end
function init(args)
  bodies = dofile("DATA")
  counter = tonumber(wrk.thread:get("offset")) or 0
end
function request()
  counter = counter + stride
  local b = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", "/webhooks/idenfy/auto-finished",
    {["Content-Type"] = "application/json", ["Idenfy-Signature"] = b[2]}, b[1])
end
"""


def signed_bodies(count: int, seed: int = 7, prefix: str = "bench") -> Iterator[tuple[str, str]]:
    """``count`` distinct iDenfy result bodies of about 3 KB and their signatures.

    Each has its own scanRef (``{prefix}-{number}-{random}``); another ``prefix`` and
    ``seed`` give bodies that none of these repeats.
    """
    rng = random.Random(seed)
    for number in range(count):
        person = Person(rng)
        ref = f"{prefix}-{number:08d}-{rng.randrange(16**8):08x}"
        body = person.result(ref, 1_780_000_000 + number, False, "SUSPECTED")
        body["data"]["additionalData"] = {"note": "x" * 1500}
        raw = json.dumps(body)
        yield raw, sign(KEY, raw.encode())


def bodies_file(folder: Path, count: int) -> Path:
    """A Lua table of distinct signed bodies, about 3 KB each.

    Lua allows a function 65,536 constants, so the bodies come in functions of
    ``LUA_CHUNK`` each, appended to one table.
    """
    lines = ["local t = {}", "local function add(c) for i = 1, #c do t[#t + 1] = c[i] end end"]
    for number, (raw, signature) in enumerate(signed_bodies(count)):
        if number % LUA_CHUNK == 0:
            lines.append(
                "add((function() return {" if not number else "} end)())\nadd((function() return {"
            )
        lines.append(f"{{[==[{raw}]==], '{signature}'}},")
    if count:
        lines.append("} end)())")
    lines.append("return t")
    path = folder / "bodies.lua"
    path.write_text("\n".join(lines))
    return path


def post_script(folder: Path, bodies: int) -> Path:
    """The wrk script posting ``bodies`` distinct signed bodies (two wrk threads)."""
    data = bodies_file(folder, bodies)
    script = folder / "post.lua"
    script.write_text(LUA.replace("DATA", str(data)).replace("THREADS", "2"))
    return script


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (loopback)
            return
        except Exception as error:
            if "HTTP Error" in str(error):
                return
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the ledger's writer process, on PostgreSQL)."""
    found, index = [pid], 0
    while index < len(found):
        found.extend(children_of(found[index]))
        index += 1
    return found


def peak_rss_of_tree(pid: int) -> tuple[float, float]:
    """The largest peak RSS of one process in ``pid``'s tree, and the peaks' sum."""
    peaks = [peak_rss_mb(member) for member in process_tree(pid)]
    return max(peaks), sum(peaks)


def wrk_command(port: int, script: Path, seconds: int, connections: int) -> list[str]:
    return ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
            f"http://127.0.0.1:{port}"]  # fmt: skip


def wrk(port: int, script: Path, seconds: int, connections: int) -> dict[str, float]:
    command = wrk_command(port, script, seconds, connections)
    return wrk_figures(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def wrk_figures(out: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), requests sent and non-2xx answers from wrk's output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    sent = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        m = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]

    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "requests": float(sent),
            "errors": float(non2xx.group(1)) if non2xx else 0.0}  # fmt: skip


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM and wait; after ``timeout`` seconds, SIGKILL the process and its children."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for member in reversed(process_tree(process.pid)):
            with suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        process.wait(timeout=timeout)


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    """A server started by ``command`` until the block ends, once it answers on ``port``;
    yields its process id."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        yield process.pid
    finally:
        stop(process)


def busy_seconds() -> float:
    """The CPU time the machine's cores have spent busy since it started (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        user, nice, system, _, _, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def measure(
    command: list[str],
    env: dict[str, str],
    port: int,
    args: Any,
    script: Path,
    settled: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """wrk against a server started by ``command``, with the machine's CPU time per request
    (µs, ``cpu_us``) from the start of wrk until ``settled(port)`` returns, if given (the
    server's work on what wrk sent done), else until wrk ends."""
    with serving(command, env, port) as pid:
        before = busy_seconds()
        result = wrk(port, script, args.seconds, args.connections)
        if settled is not None:
            settled(port)
        result["cpu_us"] = (busy_seconds() - before) * 1e6 / max(result["requests"], 1)
        result["rss"], result["rss_all"] = peak_rss_of_tree(pid)
        return result


def ledger_command(*args: str) -> list[str]:
    """``ledger ARGS``, from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "ledger"), *args]


def run_store(store: str, url: str, args: Any, folder: Path, script: Path) -> dict[str, Any]:
    python = sys.executable
    base = clean_environment()
    figures: dict[str, list[dict[str, float]]] = {"ceiling": [], "ledger": []}
    for run in range(args.runs):
        port = free_port()
        if store == "sqlite":
            target = f"sqlite:{folder / f'ceiling-{run}.sqlite3'}"
            db_url = f"sqlite:///{folder / f'ledger-{run}.sqlite3'}"
        else:
            # A fresh database for each server: a run must not meet the bodies of the
            # runs before (the ledger would answer them as duplicates, without a write).
            db_url = recreate_database(url, "ledger_bench")
            location = parse_database_url(db_url)
            assert isinstance(location, PostgresLocation)
            target = f"postgres:{location.conninfo()}"
        env = {**base, "BENCH_KEY": KEY, "BENCH_DATABASE": target}
        ceiling = [python, "-m", "uvicorn", "bench.ceiling_app:app", "--port", str(port)]
        ceiling += ["--no-access-log", "--log-level", "warning"]
        figures["ceiling"].append(measure(ceiling, env, port, args, script))
        if store == "postgres":
            db_url = recreate_database(url, "ledger_bench")
        env = {**base, "LEDGER_DATABASE_URL": db_url, "IDENFY_SIGNING_KEYS": KEY}
        port = free_port()
        figures["ledger"].append(
            measure(
                ledger_command("serve", "--no-projections", "--port", str(port)),
                env,
                port,
                args,
                script,
            )
        )
    return {name: medians(runs) for name, runs in figures.items()}


def medians(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The median of each figure over the runs, each run's requests/s (the runs' spread is
    part of the result) and the most requests one run sent."""
    return {**{k: statistics.median(r[k] for r in runs) for k in runs[0]},
            "each": [r["rps"] for r in runs], "most": max(r["requests"] for r in runs)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--bodies", type=int, default=80_000, help="distinct bodies (a run sending more repeats)"
    )
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "load_before": os.getloadavg()[0],
        "settings": {"seconds": args.seconds, "connections": args.connections, "runs": args.runs},
    }
    folder = Path(tempfile.mkdtemp(prefix="ledger-ingest-"))
    script = post_script(folder, args.bodies)
    columns = ("req/s", "p50 ms", "p99 ms", "RSS MB", "non-2xx")
    print(f"{'store':9} {'path':8} " + " ".join(f"{c:>8}" for c in columns) + " ratio")
    with ExitStack() as stack:
        for store in args.stores.split(","):
            url = stack.enter_context(server_url()) if store == "postgres" else ""
            result = run_store(store, url, args, folder, script)
            results[store] = result
            for name in ("ceiling", "ledger"):
                r = result[name]
                ratio = r["rps"] / result["ceiling"]["rps"]
                print(f"{store:9} {name:8} {r['rps']:8.0f} {r['p50']:7.1f} {r['p99']:7.1f}"
                      f" {r['rss']:7.0f} {r['errors']:8.0f} {ratio:.2f}")  # fmt: skip
                if name == "ledger" and r["most"] > args.bodies:
                    print(
                        f"  note: a run sent {r['most']:,.0f} requests, more than the"
                        f" {args.bodies:,} bodies: the ledger answered the repeats as duplicates"
                    )
            result["bodies"] = args.bodies
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def recreate_database(url: str, name: str) -> str:
    import psycopg

    location = parse_database_url(url)
    assert isinstance(location, PostgresLocation)
    with psycopg.connect(location.conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    main()
