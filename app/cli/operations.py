"""Operating commands: ``replay``, ``quarantine``, ``simulate``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from eventsourcing.persistence import PersistenceError

from adapters.durability import views_datastore
from adapters.sql import Sql
from adapters.view_tables import VIEW_CLASSES
from app.bootstrap import bootstrap, open_ledger
from app.cli.common import fail, settings_from
from app.cli.drops import drop as drop_deliveries
from app.cli.drops import fake_script, verifications
from app.cli.fake_idenfy import serve_until_interrupted
from app.cli.policy import dry_run as dry_run_of
from app.cli.policy import read_policy, report_changes
from app.cli.progress import ProgressReporter
from app.cli.scenarios import SCENARIOS, Planned, plan
from app.cli.simulate import Sender, register_all, run, tally
from app.config import Settings, environment
from app.service.errors import StoreUnavailableError
from app.service.policy import put_in_force
from app.service.replay import replay
from app.service.reprocess import reprocess
from app.service.services import Services


@click.command(name="replay")
@click.argument("names", nargs=-1)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path),
    help="Put this policy in force when the replay is done.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --policy: say which decisions it would change; change nothing.",
)
@click.option("--report", type=click.Path(path_type=Path),
              help="With --policy: write each changed verification (NDJSON).")  # fmt: skip
def replay_command(
    names: tuple[str, ...], policy_file: Path | None, dry_run: bool, report: Path | None
) -> None:
    """Rebuild projections (all, or the NAMEs given) from the event store.

    Reads keep being served from the old tables until the new ones are caught up.
    An interrupted replay resumes where it stopped when run again.
    """
    if policy_file is not None:
        new = read_policy(policy_file)
        with operating(settings_from()) as services:
            found = dry_run_of(services, new)
            if not dry_run:
                replay_views(names)
                put_in_force(services.ledger, new, services.clock())
                click.echo(f"policy in force: {new.version}")
        report_changes(found, report, applied=not dry_run)
        return
    if dry_run or report is not None:
        fail("--dry-run and --report go with --policy FILE")
    replay_views(names)


def replay_views(names: tuple[str, ...]) -> None:
    """The replay itself, with its progress and summary."""
    settings = settings_from(environment())
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


@click.group()
def quarantine() -> None:
    """Inspect and reprocess quarantined deliveries."""


@quarantine.command(name="list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def quarantine_list(limit: int, as_json: bool) -> None:
    """The newest quarantined deliveries, with their causes."""
    with operating(settings_from()) as services:
        try:
            entries = services.quarantine.entries(limit)
        except PersistenceError as error:
            fail(f"cannot read the quarantine: {error}", 1)
    for entry in entries:
        row = {
            "id": entry.id,
            "receivedAt": entry.received_at.isoformat(),
            "authentic": entry.authentic,
            "pathKind": entry.path_kind,
            "eventType": entry.event_type,
            "bytes": None if entry.payload is None else len(entry.payload),  # None: erased
            "payloadSha256": entry.payload_sha256,
            "cause": entry.cause,
            "reprocessedAt": entry.reprocessed_at,
            "outcome": entry.outcome,
        }
        if as_json:
            click.echo(json.dumps(row))
        else:
            state = f"reprocessed: {entry.outcome}" if entry.reprocessed_at else "waiting"
            signed = "signed" if entry.authentic else "UNSIGNED"
            click.echo(
                f"{entry.id}  {row['receivedAt']}  {signed}  {row['bytes']} B  {state}\n"
                f"    {entry.cause}"
            )


@quarantine.command(name="reprocess")
@click.argument("quarantine_id")
def quarantine_reprocess(quarantine_id: str) -> None:
    """Run one quarantined delivery through intake again, after a key or code fix."""
    with operating(settings_from()) as services:
        try:
            kept = services.quarantine.get(quarantine_id)
        except PersistenceError as error:
            fail(f"cannot read the quarantine: {error}", 1)
        if kept is None:
            fail(f"no quarantined delivery {quarantine_id!r}", 1)
        answer = reprocess(services, kept)
    click.echo(json.dumps({"status": answer.status, **answer.body}))
    if answer.status != 200:
        reason = answer.body.get("error") or f"still quarantined: {kept.cause}"
        fail(f"not recorded: {reason}", 1)


@click.command()
@click.option("--url", help="The service's base URL, e.g. http://127.0.0.1:8000")
@click.option("--key", help="The webhook signing key to sign with.")
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default="day", show_default=True)
@click.option("--count", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--seed", type=int, default=None, help="Make the deliveries reproducible.")
@click.option("--retry-delay", default=1.0, show_default=True, type=click.FloatRange(0, 60))
@click.option("--report", type=click.Path(path_type=Path), help="Write each outcome (NDJSON).")
@click.option(
    "--idenfy-api",
    metavar="PORT",
    type=click.IntRange(0, 65535),
    help="Instead, serve a fake iDenfy status API on 127.0.0.1:PORT until interrupted.",
)
@click.option(
    "--register-with",
    metavar="TOKEN",
    help="A backend token: register every verification first, as a backend does.",
)
@click.option("--expiry-time", type=click.IntRange(0, 10**7), help="Registrations' expiryTime.")
@click.option(
    "--session-length", type=click.IntRange(0, 10**7), help="Registrations' sessionLength."
)
@click.option(
    "--drop",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Lose every delivery of this share of the verifications.",
)
@click.option(
    "--idenfy-script",
    type=click.Path(path_type=Path),
    help="Write what the dropped deliveries said, as a fake iDenfy API script"
    " (with --idenfy-api: the script the fake starts with).",
)
def simulate(
    url: str | None,
    key: str | None,
    scenario: str,
    count: int,
    concurrency: int,
    seed: int | None,
    retry_delay: float,
    report: Path | None,
    idenfy_api: int | None,
    **losses: Any,
) -> None:
    """Send realistic signed iDenfy deliveries, retried like iDenfy, and report on them."""
    if idenfy_api is not None:
        serve_until_interrupted(idenfy_api, script=read_script(losses["idenfy_script"]))
        return
    if url is None or key is None:
        fail("--url and --key are needed to send deliveries")
    try:
        sender = Sender(url, key, retry_delay=retry_delay)
    except ValueError as error:
        fail(str(error))
    planned = plan(scenario, count, seed)
    planned = register_and_drop(sender, planned, concurrency, seed, **losses)
    outcomes = run(sender, planned, concurrency)
    if report is not None:
        try:
            report.write_text("".join(json.dumps(o.summary()) + "\n" for o in outcomes))
        except OSError as error:
            fail(f"cannot write {report}: {error.strerror}", 1)
    totals = tally(outcomes)
    click.echo(json.dumps(totals))
    if totals["unacknowledged"]:
        fail(f"{totals['unacknowledged']} deliveries were never acknowledged", 1)


def read_script(path: Path | None) -> dict[str, Any] | None:
    """With ``--idenfy-api``, ``--idenfy-script`` names the script the fake starts with."""
    if path is None:
        return None
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        fail(f"cannot read the script {path}: {error}")
    return found if isinstance(found, dict) else {"invalid": found}


def register_and_drop(
    sender: Sender,
    planned: list[Planned],
    concurrency: int,
    seed: int | None,
    *,
    register_with: str | None,
    expiry_time: int | None,
    session_length: int | None,
    drop: float,
    idenfy_script: Path | None,
) -> list[Planned]:
    """Register the plan's verifications when asked, then drop a share of their deliveries
    (and write what those said, for a fake iDenfy API); what is left to send."""
    limits = {
        name: value
        for name, value in (("expiryTime", expiry_time), ("sessionLength", session_length))
        if value is not None
    }
    if register_with is not None:
        refused = register_all(sender, verifications(planned), register_with, concurrency, limits)
        if refused:
            fail(f"{refused} registrations were refused; is --register-with a backend token?", 1)
    kept, truth = drop_deliveries(planned, drop, seed) if drop else (planned, {})
    if idenfy_script is not None:
        try:
            idenfy_script.write_text(json.dumps(fake_script(truth), indent=2))
        except OSError as error:
            fail(f"cannot write {idenfy_script}: {error.strerror}", 1)
    if truth:
        click.echo(f"dropped every delivery of {len(truth)} verifications", err=True)
    return kept


@contextlib.contextmanager
def operating(settings: Settings) -> Iterator[Services]:
    """The services over an existing store, for a command."""
    try:
        services = bootstrap(settings, create_tables=False)
    except StoreUnavailableError as error:
        fail(str(error), 1)
    try:
        yield services
    finally:
        services.close()


COMMANDS = [replay_command, quarantine, simulate]
