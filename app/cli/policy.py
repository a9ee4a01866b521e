"""``ledger policy check FILE``, and what ``ledger replay --policy FILE`` adds: a dry run
of a new policy (the verifications whose decision it would change, by transition and one
by one) and its switch (recorded in the ledger as the policy in force)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from adapters.completeness_query import verification_documents
from app.cli.common import fail
from app.service.policy import Change, changes, transitions
from app.service.services import Services
from projections.policy import Policy, PolicyError, parse_policy


def read_policy(path: Path) -> Policy:
    """The policy in ``path``, or a one-line failure (exit 1) naming the line and reason."""
    try:
        return parse_policy(path.read_bytes())
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}", 2)
    except PolicyError as error:
        fail(f"{path}: {error}", 1)


@click.group(name="policy")
def policy() -> None:
    """Business decisions by a versioned policy."""


@policy.command(name="check")
@click.argument("path", type=click.Path(path_type=Path))
def policy_check(path: Path) -> None:
    """Validate a policy file (0 valid, 1 invalid, naming the line)."""
    found = read_policy(path)
    click.echo(f"{path}: valid; version {found.version}, {len(found.rules)} rules")


def dry_run(services: Services, new: Policy) -> list[Change]:
    """Every verification whose decision ``new`` would change, from what the views hold."""
    view = services.views.status
    table = view.rows_table(view.generation())
    return list(changes(verification_documents(view.sql, table, view.serving), new))


def report_changes(found: list[Change], report: Path | None, applied: bool) -> None:
    verb = "changed" if applied else "would change"
    for transition, count in transitions(found).items():
        click.echo(f"{transition}: {count}")
    click.echo(f"{len(found)} verifications {verb} decision")
    if report is not None:
        lines = (
            json.dumps({"scanRef": c.scan_ref, "before": c.before, "after": c.after,
                        "reasons": c.reasons}) + "\n"
            for c in found
        )  # fmt: skip
        try:
            report.write_text("".join(lines))
        except OSError as error:
            fail(f"cannot write {report}: {error.strerror}", 1)


COMMANDS = [policy]
