"""The ``ledger`` command."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import tempfile
import threading
from typing import cast

import click
import uvicorn

from adapters.idenfy_api import IdenfyStatusApi
from adapters.sql import Sql
from app import heap, logs
from app.bootstrap import bootstrap, followers, set_up_store
from app.cli import audit as cli_audit
from app.cli import completeness as cli_completeness
from app.cli import erasure as cli_erasure
from app.cli import operations as cli_operations
from app.cli import policy as cli_policy
from app.cli import transparency as cli_transparency
from app.cli.common import fail, settings_from
from app.cli.verify_bundle import verify_bundle
from app.config import (
    API_KEYS,
    FORWARDED_ALLOW_IPS,
    LOG_FORMAT,
    METRICS_DIR,
    SIGNING_KEYS,
    ConfigError,
    Settings,
    environment,
    load,
)
from app.devkeys import DevKeysError, dev_keys, keys_path
from app.http.connections import LimitedHttp
from app.service.errors import StoreUnavailableError
from app.service.projection_process import ProjectionProcess
from app.service.reconcile_schedule import ScheduledReconcile
from app.service.workers import BATCH_LIMIT


class LedgerCommand(click.Group):
    """The ``ledger`` command: a setting it cannot run with stops it with one line (exit 2),
    wherever in the command it is found."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            fail(str(error))


@click.group(cls=LedgerCommand)
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
@click.option(
    "--forwarded-allow-ips",
    metavar="ADDRESSES",
    help="Proxies whose X-Forwarded-For/-Proto are believed: comma-separated addresses, "
    f"networks or *; overrides {FORWARDED_ALLOW_IPS} [default: 127.0.0.1,::1].",
)
def serve(
    host: str,
    port: int,
    workers: int,
    dev: bool,
    no_projections: bool,
    forwarded_allow_ips: str | None,
) -> None:
    """Run the HTTP service."""
    environ = environment()
    if forwarded_allow_ips is not None:
        environ[FORWARDED_ALLOW_IPS] = forwarded_allow_ips
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
        run_server(settings, host, port, workers)
    finally:
        if projection_process is not None:
            projection_process.stop()


def run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    """uvicorn, with the limits on what a client can hold (ADR 23) and the proxies trusted."""
    limits = settings.connections
    uvicorn.run(
        "app.server:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn takes a protocol class; a factory of protocols does as well, and this
        # one is plain data, so that it reaches the worker processes.
        http=cast("type[asyncio.Protocol]", LimitedHttp(limits)),
        timeout_keep_alive=math.ceil(limits.idle_timeout),
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level="info",
        log_config=None,
        access_log=False,
        server_header=False,
    )


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
    workers, tree = followers(settings, prepare_store(settings), batch_size)
    heap.settle()
    workers.start()
    tree.start()
    scheduled = scheduled_reconcile(settings)
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    click.echo(
        f"projecting {', '.join(workers.names)} (each while this process leads it); Ctrl-C stops",
        err=True,
    )
    stopping.wait()
    if scheduled is not None:
        scheduled.stop()
    tree.stop()
    workers.stop()


def scheduled_reconcile(settings: Settings) -> ScheduledReconcile | None:
    """Reconciliation every ``LEDGER_RECONCILE_EVERY`` seconds, when set (and credentials)."""
    api = settings.completeness.api()
    if not settings.completeness.reconcile_every:
        return None
    if api is None:
        fail("LEDGER_RECONCILE_EVERY is set but IDENFY_API_KEY and IDENFY_API_SECRET are not")
    try:
        services = bootstrap(settings, create_tables=False)
    except StoreUnavailableError as error:
        fail(str(error), 1)
    click.echo(
        f"reconciling every {settings.completeness.reconcile_every} s while leading", err=True
    )
    return ScheduledReconcile(services, IdenfyStatusApi(api)).start()


def prepare_store(settings: Settings) -> Sql:
    """The store set up once, before anything else opens it (``app.bootstrap``)."""
    try:
        prepared = set_up_store(settings)
    except StoreUnavailableError as error:
        fail(str(error), 1)
    if prepared.adopted:
        click.echo(
            f"{prepared.adopted} quarantined deliveries were signed with a key added since they"
            " came; they are kept as authentic (`ledger quarantine list`, then `reprocess`)",
            err=True,
        )
    return prepared.views


for command in (
    *cli_audit.COMMANDS,
    *cli_operations.COMMANDS,
    *cli_transparency.COMMANDS,
    *cli_completeness.COMMANDS,
    *cli_policy.COMMANDS,
    *cli_erasure.COMMANDS,
):
    main.add_command(command)
main.add_command(verify_bundle)
