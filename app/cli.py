"""The ``ledger`` command."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, NoReturn

import click
import uvicorn
from eventsourcing.persistence import PersistenceError

from adapters.durability import views_datastore
from adapters.export import FORMATS, Window, encoded
from adapters.sql import Sql
from adapters.view_tables import VIEW_CLASSES
from app.audit import DigestFileError, SavedDigest, verify_ledger
from app.bootstrap import ledger_settings, open_ledger, utc_now
from app.config import API_KEYS, SIGNING_KEYS, ConfigError, Settings, load
from app.devkeys import DevKeysError, dev_keys, keys_path
from app.ledger import StoreUnavailableError
from app.progress import ProgressReporter
from app.replay import replay
from app.workers import ProjectionWorkers


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"ledger: {message}", err=True)
    sys.exit(code)


def settings_from(environ: Mapping[str, str]) -> Settings:
    try:
        return load(environ)
    except ConfigError as error:
        fail(str(error))


@click.group()
def main() -> None:
    """An event-sourced ledger of iDenfy verification webhooks."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--dev", is_flag=True, help="Make and print keys for trying the service out.")
@click.option("--no-projections", is_flag=True, help="Run no projection workers in this process.")
def serve(host: str, port: int, workers: int, dev: bool, no_projections: bool) -> None:
    """Run the HTTP service."""
    environ = dict(os.environ)
    if dev:
        try:
            store = load(environ, require_signing_keys=False).store
        except ConfigError as error:
            fail(str(error))
        try:
            generated = dev_keys(store)
        except DevKeysError as error:
            fail(str(error))
        for name in (SIGNING_KEYS, API_KEYS):
            if not environ.get(name, "").strip():
                environ[name] = generated[name]
        click.echo(f"development keys (kept in {keys_path(store)}):", err=True)
        click.echo(f"  {SIGNING_KEYS}={environ[SIGNING_KEYS]}", err=True)
        click.echo(f"  {API_KEYS}={environ[API_KEYS]}", err=True)
    settings = settings_from(environ)
    views = prepare_store(settings)
    projection_workers = None
    if not no_projections:
        projection_workers = ProjectionWorkers(ledger_settings(settings), views).start()
    try:
        os.environ.update(environ)
        uvicorn.run(
            "app.http:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=False,
            server_header=False,
        )
    finally:
        if projection_workers is not None:
            projection_workers.stop()


@main.command()
def project() -> None:
    """Run the projection workers alone, for services started with --no-projections."""
    settings = settings_from(os.environ)
    workers = ProjectionWorkers(ledger_settings(settings), prepare_store(settings)).start()
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    click.echo(f"projecting {', '.join(workers.names)}; Ctrl-C stops", err=True)
    stopping.wait()
    workers.stop()


def prepare_store(settings: Settings) -> Sql:
    """Create the ledger's and the views' tables once, before anything else opens them."""
    try:
        open_ledger(settings).close()
        views = Sql(views_datastore(settings.store))
        for view_class in VIEW_CLASSES.values():
            view_class(views)
    except StoreUnavailableError as error:
        fail(str(error), 1)
    except PersistenceError as error:
        fail(f"cannot open the projections' views: {error}", 1)
    return views


@main.command(name="replay")
@click.argument("names", nargs=-1)
def replay_command(names: tuple[str, ...]) -> None:
    """Rebuild projections (all, or the NAMEs given) from the event store.

    Reads keep being served from the old tables until the new ones are caught up.
    An interrupted replay resumes where it stopped when run again.
    """
    settings = settings_from(os.environ)
    unknown = [name for name in names if name not in VIEW_CLASSES]
    if unknown:
        fail(f"unknown projection {unknown[0]!r}; known: {', '.join(VIEW_CLASSES)}")
    try:
        ledger = open_ledger(settings)
        views = Sql(views_datastore(settings.store))
    except (StoreUnavailableError, PersistenceError) as error:
        fail(str(error), 1)
    reporter = ProgressReporter(sys.stderr.isatty())
    try:
        summary = replay(ledger, views, names, progress=reporter.update)
    except KeyboardInterrupt:
        reporter.close()
        fail("replay interrupted; run it again to resume", 130)
    except PersistenceError as error:
        reporter.close()
        fail(f"replay stopped: {error}; run it again to resume", 1)
    finally:
        ledger.close()
    reporter.close()
    built = ", ".join(f"{name} (generation {gen})" for name, gen in summary.generations.items())
    click.echo(
        f"replayed {summary.events} events into {built} in {summary.seconds:.1f} s"
        f" ({summary.rate:,.0f} events/s)"
    )
    if summary.status_changed is not None:
        click.echo(f"{summary.status_changed} verifications changed status")


@main.command()
@click.option("--digest", "digest_file", type=click.Path(path_type=Path), help="Check against it.")
@click.option("--save-digest", "save_file", type=click.Path(path_type=Path), help="Write it here.")
def verify(digest_file: Path | None, save_file: Path | None) -> None:
    """Recompute every hash chain, and check the ledger against an earlier digest.

    Exit status: 0 intact, 1 tampered (each problem is named), 2 any other error.
    """
    settings = settings_from(os.environ)
    try:
        saved = SavedDigest.load(digest_file) if digest_file else None
        ledger = open_ledger(settings, create_tables=False)
    except (DigestFileError, StoreUnavailableError) as error:
        fail(str(error), 2)
    reporter = ProgressReporter(sys.stderr.isatty(), label="verifying")
    try:
        report = verify_ledger(ledger, utc_now(), saved, progress=reporter.update)
    except PersistenceError as error:
        fail(f"cannot read the ledger: {error}", 2)
    finally:
        reporter.close()
        ledger.close()
    if save_file is not None:
        try:
            save_file.write_text(json.dumps(report.digest.to_json()))
        except OSError as error:
            fail(f"cannot write {save_file}: {error.strerror}", 2)
    chains = len(report.digest.heads)
    if not report.intact:
        for problem in report.problems:
            click.echo(
                f"tampered: {problem.scan_ref} sequence {problem.sequence}: {problem.reason}"
            )
        names = sorted({p.scan_ref for p in report.problems})
        fail(f"tampered: {len(report.problems)} problem(s) in {', '.join(names)}", 1)
    click.echo(
        f"intact: {report.events} events in {chains} verifications; digest {report.digest.digest}"
    )


@main.command()
@click.option("--since", default=None, help="A ledger position or an ISO 8601 time.")
@click.option("--until", default=None, help="A ledger position or an ISO 8601 time.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="ndjson", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Default: stdout.")
def export(since: str | None, until: str | None, fmt: str, output: Path | None) -> None:
    """Write every verification event in the window, in ledger order."""
    settings = settings_from(os.environ)
    try:
        window = Window.parse(since, until)
    except ValueError as error:
        fail(str(error))
    try:
        ledger = open_ledger(settings, create_tables=False)
    except StoreUnavailableError as error:
        fail(str(error), 1)
    try:
        with open_output(output) as sink:
            for chunk in encoded(ledger.recorder, ledger.mapper, window, fmt):
                sink.write(chunk)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}", 1)
    except PersistenceError as error:
        fail(f"cannot read the ledger: {error}", 1)
    finally:
        ledger.close()


@contextlib.contextmanager
def open_output(path: Path | None) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with path.open("wb") as sink:
        yield sink
