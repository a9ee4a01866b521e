"""The ``ledger`` command."""

from __future__ import annotations

import os
import signal
import tempfile
import threading

import click
import uvicorn
from eventsourcing.persistence import PersistenceError

from adapters.durability import views_datastore
from adapters.sql import Sql
from adapters.view_tables import VIEW_CLASSES
from app import logs
from app.bootstrap import (
    open_access_log,
    open_commit_probe,
    open_ledger,
    open_quarantine,
    open_session_store,
    projection_workers,
    setting_up,
)
from app.cli import audit as cli_audit
from app.cli import operations as cli_operations
from app.cli.common import fail, settings_from
from app.config import (
    API_KEYS,
    LOG_FORMAT,
    METRICS_DIR,
    SIGNING_KEYS,
    ConfigError,
    Settings,
    environment,
    load,
)
from app.devkeys import DevKeysError, dev_keys, keys_path
from app.service.errors import StoreUnavailableError
from app.service.projection_process import ProjectionProcess
from app.service.workers import BATCH_LIMIT


@click.group()
def main() -> None:
    """An event-sourced ledger of iDenfy verification webhooks."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--dev", is_flag=True, help="Make and print keys for trying the service out.")
@click.option(
    "--no-projections", is_flag=True, help="Run no projection workers (see `ledger project`)."
)
def serve(host: str, port: int, workers: int, dev: bool, no_projections: bool) -> None:
    """Run the HTTP service."""
    environ = environment()
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
    if dev:
        environ[LOG_FORMAT] = environ.get(LOG_FORMAT) or "text"
    settings = settings_from(environ, require_signing_keys=True)
    logs.configure(text=settings.text_logs)
    prepare_store(settings).datastore.close()
    projection_process = None
    if not no_projections:
        projection_process = ProjectionProcess(environ).start()
    if workers > 1 and not settings.metrics_dir:
        # Counters from every worker process add up in one place.
        environ[METRICS_DIR] = tempfile.mkdtemp(prefix="ledger-metrics-")
    try:
        os.environ.update(environ)
        uvicorn.run(
            "app.server:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=None,
            access_log=False,
            server_header=False,
        )
    finally:
        if projection_process is not None:
            projection_process.stop()


@main.command()
@click.option(
    "--batch-size",
    default=BATCH_LIMIT,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Events read and written in one transaction at most.",
)
def project(batch_size: int) -> None:
    """Run the projection workers alone, for services started with --no-projections."""
    settings = settings_from(environment())
    logs.configure(text=settings.text_logs)
    workers = projection_workers(settings, prepare_store(settings), batch_size).start()
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    click.echo(
        f"projecting {', '.join(workers.names)} (each while this process leads it); Ctrl-C stops",
        err=True,
    )
    stopping.wait()
    workers.stop()


def prepare_store(settings: Settings) -> Sql:
    """Create the ledger's and the views' tables once, before anything else opens them."""
    try:
        with setting_up(settings):
            ledger = open_ledger(settings)
            open_quarantine(ledger)
            open_access_log(ledger)
            open_commit_probe(ledger)
            open_session_store(ledger)
            ledger.close()
            views = Sql(views_datastore(settings.store))
            for view_class in VIEW_CLASSES.values():
                view_class(views)
    except StoreUnavailableError as error:
        fail(str(error), 1)
    except PersistenceError as error:
        fail(f"cannot open the projections' views: {error}", 1)
    return views


for command in (*cli_audit.COMMANDS, *cli_operations.COMMANDS):
    main.add_command(command)
