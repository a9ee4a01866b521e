"""``ledger erase``, ``ledger retention`` and ``ledger rotate-key``: the personal data
lifecycle from the command line (ADR 31)."""

from __future__ import annotations

import getpass
import json
import os
from datetime import timedelta
from pathlib import Path

import click

from adapters.key_rotation import rotate_master_key
from adapters.key_wrap import WrongMasterKeyError
from adapters.payload_migration import migrated
from adapters.retention import drop_old_quarantine
from app.cli.common import fail, settings_from
from app.cli.operations import operating
from app.config import ENCRYPTION_KEY, ConfigError, parse_encryption_key
from app.service.erasure import (
    Erasure,
    ErasureRefusedError,
    UnknownClientError,
    due_for_erasure,
    erase,
)
from app.service.services import Services

NEW_KEY = "LEDGER_NEW_ENCRYPTION_KEY"


def _operator(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


def _write_report(path: Path | None, report: object) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2))


def _said(done: Erasure) -> str:
    if done.already_erased:
        return (
            f"client {done.client_id!r} was already erased at {done.erased_at};"
            f" {done.events_appended} erased events appended now"
        )
    return (
        f"erased client {done.client_id!r}: {len(done.keys_destroyed)} data keys destroyed,"
        f" {done.payloads_unreadable} payloads and {done.quarantined_unreadable} quarantined"
        f" copies unreadable, {done.events_appended} erased events appended"
    )


@click.command(name="erase")
@click.option("--client", "client_id", required=True, help="The clientId whose data to erase.")
@click.option("--reason", required=True, help="Why (kept in the erased events).")
@click.option("--override-retention", is_flag=True, help="Erase before retainUntil.")
@click.option("--by", default=None, help="Who asks [default: cli:<user>].")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the erasure report (JSON) here.")  # fmt: skip
def erase_command(
    client_id: str, reason: str, override_retention: bool, by: str | None, report_path: Path | None
) -> None:
    """Erase a client's personal data: destroy its data keys and record why."""
    if not reason.strip():
        fail("--reason must say why", 2)
    with operating(settings_from()) as services:
        try:
            done = erase(
                services, client_id, reason, _operator(by), override_retention=override_retention
            )
        except UnknownClientError:
            fail(f"nothing is recorded about client {client_id!r}", 1)
        except ErasureRefusedError as error:
            fail(f"refused: {error}", 1)
    _write_report(report_path, done.report())
    click.echo(_said(done))


@click.command(name="retention")
@click.option("--dry-run", is_flag=True, help="List who is due; erase nothing.")
@click.option("--by", default=None, help="Who runs it [default: cli:<user>].")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the erasure reports (JSON) here.")  # fmt: skip
def retention_command(dry_run: bool, by: str | None, report_path: Path | None) -> None:
    """Erase every client past its retention and not on hold; drop quarantined copies
    older than the retention period."""
    with operating(settings_from()) as services:
        due = due_for_erasure(services)
        if dry_run:
            for retention in due:
                click.echo(f"{retention.client_id}\tretained until {retention.retain_until}")
            click.echo(f"{len(due)} clients are due for erasure", err=True)
            return
        reports = _erase_all(services, [r.client_id for r in due], _operator(by))
        cutoff = services.clock() - timedelta(days=services.settings.retention_days)
        dropped = drop_old_quarantine(services.ledger.keys.sql, cutoff)
    _write_report(report_path, reports)
    click.echo(f"erased {len(reports)} clients past retention")
    click.echo(f"dropped {dropped} quarantined copies received before {cutoff.isoformat()}")


def _erase_all(services: Services, clients: list[str], by: str) -> list[dict[str, object]]:
    reports = []
    reason = f"retention of {services.settings.retention_days} days ended"
    for client_id in clients:
        try:
            done = erase(services, client_id, reason, by)
        except ErasureRefusedError as error:  # a hold placed meanwhile
            click.echo(f"skipped: {error}", err=True)
            continue
        click.echo(_said(done), err=True)
        reports.append(done.report())
    return reports


@click.command(name="rotate-key")
def rotate_key_command() -> None:
    """Wrap every data key under LEDGER_NEW_ENCRYPTION_KEY instead of LEDGER_ENCRYPTION_KEY.

    No event is rewritten. Stop the services first; start them again with the new key
    as LEDGER_ENCRYPTION_KEY.
    """
    settings = settings_from()
    raw = os.environ.get(NEW_KEY, "")
    if not raw.strip():
        fail(f"{NEW_KEY} is not set: give the new key there (base64 of 16, 24 or 32 bytes)", 2)
    try:
        new_key = parse_encryption_key(raw)
    except ConfigError as error:
        fail(str(error).replace(ENCRYPTION_KEY, NEW_KEY), 2)
    with operating(settings) as services:
        if not migrated(services.ledger.keys.sql):
            fail("this store's payloads are not under data keys yet: start ledger serve once", 1)
        try:
            count = rotate_master_key(services.ledger.keys.sql, settings.encryption_key, new_key)
        except WrongMasterKeyError as error:
            fail(f"{ENCRYPTION_KEY} {error}; nothing was changed", 1)
    click.echo(f"{count} data keys now wrapped under the new key; set it as {ENCRYPTION_KEY}")


COMMANDS = [erase_command, retention_command, rotate_key_command]
