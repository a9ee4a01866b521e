"""Every benchmark figure next to its target and, where there is one, its ceiling.

    .venv/bin/python -m bench.report [DIR] [--markdown FILE]
    .venv/bin/python -m bench.report --commit
    .venv/bin/python -m bench.report DIR --watch   # until stopped: others' CPU in DIR

Reads ``ingest.json``, ``replay.json``, ``reads.json`` and ``live.json`` from DIR (as
written by ``bench/run``; any may be missing) and prints one table, with the machine the
figures came from; ``--markdown`` also writes them as Markdown tables to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MB = "MB"
SERVICE_RSS_MB = 150
EXPORT_RSS_MB = 200
INGEST_RATIO = 0.8
REPLAY_RATIO = 0.5
STATUS_RPS = 5_000
STATUS_P99_MS = 10
TIMELINE_P99_MS = 20
EXPORT_RATE = 50_000
REPLAY_1M_SECONDS = 20
LIVE_INGEST_RATIO = 0.9
PROJECTION_RATIO = 1.0
CATCH_UP_SECONDS = 1
READ_YOUR_WRITES_P99_MS = 50
MILLION = 1_000_000


@dataclass
class Row:
    figure: str
    store: str
    value: str
    target: str
    ceiling: str = ""
    ratio: float | None = None
    met: bool | None = None

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        met = "" if self.met is None else ("yes" if self.met else "NO")
        return [self.figure, self.store, self.value, self.target, self.ceiling, ratio, met]


def _each(rates: list[float]) -> str:
    return " / ".join(f"{rate:,.0f}" for rate in rates)


def ingest_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for store in ("sqlite", "postgres"):
        if store not in data:
            continue
        ledger, ceiling = data[store]["ledger"], data[store]["ceiling"]
        ratio = ledger["rps"] / ceiling["rps"]
        errors = f", {ledger['errors']:.0f} non-2xx" if ledger["errors"] else ""
        rows += [
            Row("ingest requests/s", store, f"{ledger['rps']:,.0f}/s{errors}",
                f">= {INGEST_RATIO} x ceiling", f"{ceiling['rps']:,.0f}/s", ratio,
                ratio >= INGEST_RATIO),
            *([Row("ingest requests/s, each run", store, _each(ledger["each"]), "-",
                   _each(ceiling["each"]))] if "each" in ledger and "each" in ceiling else []),
            _latencies("ingest p50 / p99", store, ledger, ceiling),
            _service_rss("ingest service peak RSS", store, ledger, f"{ceiling['rss']:.0f} MB"),
        ]  # fmt: skip
    return rows


def _latencies(figure: str, store: str, figures: dict[str, Any], ceiling: dict[str, Any]) -> Row:
    """wrk's p50 and p99, with the ceiling's."""
    return Row(figure, store, f"{figures['p50']:.1f} / {figures['p99']:.1f} ms", "-",
               f"{ceiling['p50']:.1f} / {ceiling['p99']:.1f} ms")  # fmt: skip


def _service_rss(figure: str, store: str, figures: dict[str, Any], ceiling: str) -> Row:
    """The service's peak RSS against its limit."""
    return Row(figure, store, f"{figures['rss']:.0f} MB{_all(figures)}", f"< {SERVICE_RSS_MB} MB",
               ceiling, None, figures["rss"] < SERVICE_RSS_MB)  # fmt: skip


def _all(figures: dict[str, Any]) -> str:
    """The peaks of all the service's processes together, when it ran more than one."""
    total = figures.get("rss_all", figures["rss"])
    return f" ({total:.0f} MB, all processes)" if total > figures["rss"] + 0.5 else ""


def replay_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for store in ("sqlite", "postgres"):
        if store not in data:
            continue
        r = data[store]
        rows.append(
            Row(f"replay events/s ({r['events']:,} events)", store, f"{r['replay_rate']:,.0f}/s",
                f">= {REPLAY_RATIO} x ceiling", f"{r['ceiling_rate']:,.0f}/s", r["ratio"],
                r["ratio"] >= REPLAY_RATIO)
        )  # fmt: skip
        if store == "sqlite":
            seconds = r["replay_seconds"] * MILLION / r["events"]
            value = f"{seconds:.1f} s" if r["events"] >= MILLION else f"~{seconds:.1f} s (scaled)"
            rows.append(
                Row("replay of 1M events", store, value, f"< {REPLAY_1M_SECONDS} s", "", None,
                    seconds < REPLAY_1M_SECONDS)
            )  # fmt: skip
    return rows


def reads_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for store in ("sqlite", "postgres"):
        if store not in data:
            continue
        r = data[store]
        status, timeline, export = r["status"], r["timeline"], r["export"]
        top = r.get("status_ceiling")
        events = f"{r['events']:,} events"
        rows += [
            Row(f"status reads req/s ({status['connections']} conns)", store,
                f"{status['rps']:,.0f}/s" + errors(status), f">= {STATUS_RPS:,}/s",
                f"{top['rps']:,.0f}/s" if top else "", status["rps"] / top["rps"] if top else None,
                status["rps"] >= STATUS_RPS),
            Row("status reads p50 / p99", store,
                f"{status['p50']:.1f} / {status['p99']:.1f} ms", f"p99 < {STATUS_P99_MS} ms",
                f"{top['p50']:.1f} / {top['p99']:.1f} ms" if top else "", None,
                status["p99"] < STATUS_P99_MS),
            Row(f"timeline p50 / p99 ({timeline['connections']} conns, {events})", store,
                f"{timeline['p50']:.1f} / {timeline['p99']:.1f} ms ({timeline['rps']:,.0f}/s)"
                + errors(timeline), f"p99 < {TIMELINE_P99_MS} ms at 1M events", "", None,
                timeline["p99"] < TIMELINE_P99_MS),
            Row(f"/audit/events NDJSON ({export['events']:,.0f} events)", store,
                f"{export['rate']:,.0f} events/s", f">= {EXPORT_RATE:,} events/s", "", None,
                export["rate"] >= EXPORT_RATE),
            Row("/audit/events server peak RSS", store,
                f"{export['rss_peak_mb']:.0f} MB (from {export['rss_before_mb']:.0f})",
                f"< {EXPORT_RSS_MB} MB", "", None, export["rss_peak_mb"] < EXPORT_RSS_MB),
            Row("read service peak RSS (VmHWM)", store, f"{r['server_hwm_mb']:.0f} MB",
                f"< {SERVICE_RSS_MB} MB", "", None, r["server_hwm_mb"] < SERVICE_RSS_MB),
            Row("replay before the reads", store,
                f"{r['replay_rate']:,.0f} events/s ({r['replay_seconds']:.1f} s)", "-"),
        ]  # fmt: skip
    return rows


def live_rows(data: dict[str, Any]) -> list[Row]:
    """``ledger serve`` with its projections: ingest, projections' pace, read-your-writes."""
    rows = []
    if "fsync" in data:
        fsync = data["fsync"]
        rows.append(
            Row("fsync of 4 KB, median / p99 (live run)", "disk",
                f"{fsync['median_ms']:.2f} / {fsync['p99_ms']:.2f} ms", "-")
        )  # fmt: skip
    for store in ("sqlite", "postgres"):
        if store not in data:
            continue
        r = data[store]
        on, off = r["ingest"]["on"], r["ingest"]["off"]
        ratio = on["rps"] / off["rps"]
        rows += [
            Row("live ingest requests/s, projections on", store, f"{on['rps']:,.0f}/s{errors(on)}",
                f">= {LIVE_INGEST_RATIO} x ceiling", f"{off['rps']:,.0f}/s (no projections)",
                ratio, ratio >= LIVE_INGEST_RATIO),
            Row("live ingest requests/s, each run", store, _each(on["each"]), "-",
                _each(off["each"])),
            *_beside_row(store, r["ingest"]),
            *_cpu_row(store, r["ingest"]),
            _latencies("live ingest p50 / p99, projections on", store, on, off),
            *sustained_rows(store, r["sustained"], data.get("settings", {})),
            *read_your_writes_rows(store, r["read_your_writes"]),
            _service_rss("live service peak RSS (projections on)", store, r,
                         f"{off['rss']:.0f} MB (no projections)"),
        ]  # fmt: skip
    return rows


def _beside_row(store: str, ingest: dict[str, Any]) -> list[Row]:
    """What any other work costs the ingest: no projections, a busy loop of the lowest
    priority beside it (absent from runs before it was measured)."""
    beside, off = ingest.get("beside"), ingest["off"]
    if beside is None:
        return []
    return [
        Row("  no projections, beside a SCHED_IDLE busy loop", store,
            f"{beside['rps']:,.0f}/s{errors(beside)}", "-",
            f"{off['rps']:,.0f}/s (no projections)", beside["rps"] / off["rps"]),
    ]  # fmt: skip


def _cpu_row(store: str, ingest: dict[str, Any]) -> list[Row]:
    """The whole machine's CPU time per request, projections on and off: their difference
    is what the projections cost an event, all processes together (absent from runs before
    it was measured). The ratio is the rate the ingest would keep if it were short of CPU."""
    on, off = ingest["on"].get("cpu_us"), ingest["off"].get("cpu_us")
    if on is None or off is None:
        return []
    return [
        Row("  machine CPU per request, projections on", store,
            f"{on:.0f} µs (the projections: {on - off:.0f} µs an event)", "-",
            f"{off:.0f} µs (no projections)", off / on),
    ]  # fmt: skip


def sustained_rows(store: str, s: dict[str, Any], settings: dict[str, Any]) -> list[Row]:
    """The projections while an unthrottled ingest runs, and how soon they catch up."""
    seconds, caught = s["seconds"], s["catch_up_seconds"]
    if caught is None:
        late = (f"not within {settings.get('catch_up_limit', 0):.0f} s ({s['lag_left']:,} events"
                f" left, catching up at {s['catch_up_rate']:,.0f} events/s)")  # fmt: skip
    else:
        late = f"{caught:.2f} s" + (" (at the first poll, 20 ms)" if caught < 0.005 else "")
    wrk = s["wrk"]
    bodies = settings.get("sustained_bodies", 0)
    repeats = (f"; {wrk['requests']:,.0f} requests, {bodies:,} bodies: the rest were duplicates"
               if bodies and wrk["requests"] > bodies else "")  # fmt: skip
    return [
        Row(f"projections events/s, {seconds:.0f} s unthrottled ingest", store,
            f"{s['projection_rate']:,.0f}/s", ">= the ingest's",
            f"{s['ingest_rate']:,.0f}/s (ingest)", s["ratio"],
            round(s["ratio"], 2) >= PROJECTION_RATIO),
        Row("  the ingest meanwhile (wrk)", store,
            f"{wrk['rps']:,.0f} req/s, p50 / p99 {wrk['p50']:.1f} / {wrk['p99']:.1f} ms"
            + errors(wrk) + repeats, "-"),
        Row("  largest projection lag", store,
            f"{s['max_lag']:,} events ({s['max_lag_projection']})", "-"),
        Row("  all lags 0 after the last delivery", store, late, f"< {CATCH_UP_SECONDS} s", "",
            None, caught is not None and caught < CATCH_UP_SECONDS),
    ]  # fmt: skip


def read_your_writes_rows(store: str, r: dict[str, Any]) -> list[Row]:
    """A read at the position of a webhook's answer, right after it, at a paced rate."""
    failed = ""
    if r["failed_reads"]:
        kinds = ", ".join(f"{n} {kind}" for kind, n in r["failures"].items() if kind[:4] == "read")
        failed = f"; {r['failed_reads']} failed ({kinds})"
    short = r["rate"] < 0.95 * r["target_rate"]
    pace = f", paced at {r['target_rate']:,.0f}/s" if short else ""
    webhooks = sum(n for kind, n in r["failures"].items() if kind[:4] != "read")
    return [
        Row(f"read-your-writes p50 / p99 (1 in {r['read_every']} of {r['rate']:,.0f}/s{pace})",
            store, f"{r['p50']:.1f} / {r['p99']:.1f} ms (max {r['max']:.0f}, {r['reads']:,}"
            f" reads){failed}", f"p99 < {READ_YOUR_WRITES_P99_MS} ms, none failed", "", None,
            r["p99"] < READ_YOUR_WRITES_P99_MS and not r["failed_reads"]),
        Row("  webhook p50 / p99 meanwhile", store,
            f"{r['webhook_p50']:.1f} / {r['webhook_p99']:.1f} ms"
            + (f", {webhooks} not recorded" if webhooks else ""), "-"),
    ]  # fmt: skip


def errors(figures: dict[str, Any]) -> str:
    return f", {figures['errors']:.0f} non-2xx" if figures.get("errors") else ""


def fsync_times(folder: str, count: int = 100) -> list[float]:
    """The times (ms, sorted) of ``count`` 4 KB writes, each followed by an fsync, in
    ``folder``: where the benchmarks keep their files."""
    times = []
    with tempfile.NamedTemporaryFile(dir=folder) as file:
        for _ in range(count):
            started = time.perf_counter()
            file.write(b"x" * 4096)
            file.flush()
            os.fsync(file.fileno())
            times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def fsync_ms(folder: str) -> float:
    """The median time of a 4 KB write and fsync where the benchmarks keep their files."""
    times = fsync_times(folder)
    return times[len(times) // 2]


def commit() -> str:
    """The last commit that changed the code measured (anything outside bench/), marked
    when that code has uncommitted changes."""
    git = ["git", "-C", str(Path(__file__).resolve().parent.parent)]
    code = [".", ":!bench", ":!var"]
    last = subprocess.run(
        [*git, "log", "-1", "--format=%h", "--", *code], capture_output=True, text=True
    )
    if last.returncode != 0:
        return "?"
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", *code], capture_output=True, text=True
    ).stdout.strip()
    return last.stdout.strip() + (" with uncommitted changes" if changed else "")


def cpu_of_others(own_group: int) -> dict[int, tuple[str, int]]:
    """(command, CPU ticks) of every process outside ``own_group``, PostgreSQL's aside."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        parent, group = int(fields[1]), int(fields[2])
        ticks = int(fields[11]) + int(fields[12])
        # The benchmarks' own throwaway clusters run in a group of their own; kernel
        # threads (children of pid 2, e.g. writeback) work for the benchmarks as well.
        if group != own_group and parent > 2 and not command.startswith("postgres"):
            found[int(entry.name)] = (command, ticks)
    return found


def watch(path: Path, every: float = 2.0) -> None:
    """Until stopped, keep in ``path`` the CPU time that other processes used meanwhile."""
    own_group, tick = os.getpgid(0), os.sysconf("SC_CLK_TCK")
    started, before = time.monotonic(), cpu_of_others(os.getpgid(0))
    by_command: dict[str, float] = {}
    while True:
        time.sleep(every)
        now = cpu_of_others(own_group)
        for pid, (command, ticks) in now.items():
            used = ticks - before[pid][1] if pid in before else 0
            if used > 0:
                by_command[command] = by_command.get(command, 0.0) + used / tick
        before = now
        seconds = time.monotonic() - started
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"seconds": seconds, "by_command": by_command}))
        partial.replace(path)


def others_line(folder: Path) -> str:
    path = folder / "others.json"
    if not path.exists():
        return "-"
    data = json.loads(path.read_text())
    busy = sum(data["by_command"].values())
    share = busy / max(data["seconds"], 1) / len(os.sched_getaffinity(0))
    top = sorted(data["by_command"].items(), key=lambda item: -item[1])[:4]
    names = ", ".join(f"{name} {cpu:.0f} s" for name, cpu in top if cpu >= 1)
    return f"{busy:.0f} CPU-s in {data['seconds']:.0f} s ({share:.0%} of the cores)" + (
        f": {names}" if names else ""
    )


def measured_commit(folder: Path) -> str:
    """The commit at the start of the run, and whether the code changed before its end."""
    now = commit()
    start = (folder / "commit.txt").read_text().strip() if (folder / "commit.txt").exists() else ""
    if not start or start == now:
        return now
    return f"{start} at the start, {now} at the end: the code changed during the run"


def machine(folder: Path, results: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    meminfo = Path("/proc/meminfo").read_text()
    total = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    temp = tempfile.gettempdir()
    disk = subprocess.run(
        ["df", "-h", "--output=source,fstype,size", temp], capture_output=True, text=True
    ).stdout.splitlines()[-1:]
    versions = {
        data[store]["server_version"]
        for data in results.values()
        for store in ("postgres",)
        if isinstance(data.get(store), dict) and "server_version" in data[store]
    }
    # The first benchmark's figure: what else the machine was doing when the run began.
    load = next((data["load_before"] for data in results.values() if "load_before" in data), None)
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("code (last commit outside bench/)", measured_commit(folder)),
        ("cores (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU", model.group(1).strip() if model else platform.processor() or "?"),
        ("RAM", f"{int(total.group(1)) / 2**20:.1f} GiB" if total else "?"),
        ("disk (temp files)", " ".join(" ".join(disk).split()) + f" at {temp}"),
        ("fsync of 4 KB (median)", f"{fsync_ms(temp):.2f} ms"),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", ", ".join(sorted(versions)) or "-"),
        (
            "1-minute load average at the start",
            "-" if load is None else f"{load:.2f} (other work on the machine; ~0 when idle)",
        ),
        ("other processes during the run", others_line(folder)),
    ]


def render(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join(" --- " for _ in rows[0]) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", default="var/bench/latest")
    parser.add_argument("--markdown", default="", metavar="FILE")
    parser.add_argument("--commit", action="store_true", help="print the commit measured")
    parser.add_argument("--watch", action="store_true", help="record others' CPU in DIR")
    args = parser.parse_args()
    if args.commit:
        print(commit())
        return
    if args.watch:
        watch(Path(args.folder) / "others.json")
    folder = Path(args.folder)
    results = {
        name: json.loads((folder / f"{name}.json").read_text())
        for name in ("ingest", "replay", "reads", "live")
        if (folder / f"{name}.json").exists()
    }
    if not results:
        sys.exit(f"no benchmark results in {folder}")
    rows = [
        *ingest_rows(results.get("ingest", {})),
        *replay_rows(results.get("replay", {})),
        *reads_rows(results.get("reads", {})),
        *live_rows(results.get("live", {})),
    ]
    figures = [["figure", "store", "value", "target", "ceiling", "ratio", "met"]]
    figures += [row.cells() for row in rows]
    about = [["machine", ""], *(list(pair) for pair in machine(folder, results))]
    missed = [row for row in rows if row.met is False]
    summary = f"{len(missed)} of {sum(row.met is not None for row in rows)} targets missed"
    if missed:
        summary += ": " + "; ".join(f"{r.figure} ({r.store})" for r in missed)
    print(f"{render(figures, False)}\n\n{render(about, False)}\n\n{summary}")
    if args.markdown:
        text = f"{render(figures, True)}\n\n{render(about, True)}\n\n{summary}\n"
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
