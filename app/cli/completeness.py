"""``ledger reconcile`` and ``ledger completeness``: asking iDenfy about verifications that
went quiet, and the completeness statement of a period."""

from __future__ import annotations

import json

import click

from adapters.idenfy_api import AuthenticationError, IdenfyStatusApi
from adapters.rate_limit import RateLimiter
from app.cli.common import fail, settings_from
from app.cli.operations import operating
from app.service.completeness import Window, markdown, statement
from app.service.reconcile import DEFAULT_MAX, reconcile


@click.command(name="reconcile")
@click.option("--dry-run", is_flag=True, help="List what would be asked; ask nothing.")
@click.option(
    "--max",
    "limit",
    default=DEFAULT_MAX,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Verifications to ask about at most.",
)
@click.option("--rate", default=None, type=click.IntRange(1, 6000),
              help="Questions a minute at most [default: LEDGER_RECONCILE_RATE, 30].")  # fmt: skip
def reconcile_command(dry_run: bool, limit: int, rate: int | None) -> None:
    """Ask iDenfy's status API about overdue verifications and record each answer."""
    settings = settings_from()
    completeness = settings.completeness
    api_settings = completeness.api()
    if api_settings is None and not dry_run:
        fail("IDENFY_API_KEY and IDENFY_API_SECRET are not set: nothing can be asked", 2)
    api = None if dry_run or api_settings is None else IdenfyStatusApi(api_settings)
    limiter = RateLimiter(rate or completeness.reconcile_rate)
    with operating(settings) as services:
        try:
            summary = reconcile(services, api, limiter, limit=limit)
        except AuthenticationError as error:
            fail(f"iDenfy refused the API credentials ({error}); nothing more was asked", 1)
    if dry_run:
        for scan_ref in summary.planned:
            click.echo(scan_ref)
        click.echo(f"would ask about {len(summary.planned)} verifications", err=True)
        return
    click.echo(summary.line())


@click.command(name="completeness")
@click.option("--since", required=True, help="ISO date or time, included (2026-11-01).")
@click.option("--until", required=True, help="ISO date or time, excluded (2026-12-01).")
@click.option("--format", "fmt", type=click.Choice(["json", "md"]), default="json",
              show_default=True)  # fmt: skip
def completeness_command(since: str, until: str, fmt: str) -> None:
    """The completeness statement of the verifications registered in a window."""
    try:
        window = Window.parse(since, until)
    except ValueError as error:
        fail(str(error), 2)
    with operating(settings_from()) as services:
        found = statement(services, window)
    click.echo(markdown(found) if fmt == "md" else json.dumps(found, indent=2))


COMMANDS = [reconcile_command, completeness_command]
