"""``ledger verify-bundle``: an evidence bundle checked with no database (ADR 28).

This command reads nothing but the file: it imports neither the configuration nor
any store, only the bundle format, the signed-note format and the pure Merkle tree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.evidence_bundle import verify
from adapters.signed_note import NoteError, Verifier


def _fail(message: str, code: int) -> None:
    click.echo(f"ledger: {message}", err=True)
    sys.exit(code)


@click.command("verify-bundle")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--key", default=None, metavar="VERIFIER", help="The verifier key to trust.")
def verify_bundle(file: Path, key: str | None) -> None:
    """Check an evidence bundle offline: 0 valid, 1 invalid, 2 any other error."""
    try:
        verifier = None if key is None else Verifier.parse(key)
    except NoteError as error:
        _fail(f"--key: {error}", 2)
        return
    try:
        data = file.read_bytes()
    except OSError as error:
        _fail(f"cannot read {file}: {error.strerror}", 2)
        return
    problems, summary = verify(data, verifier)
    if problems:
        for problem in problems:
            click.echo(f"invalid: {problem}")
        _fail(f"invalid: {len(problems)} problem(s) in {file}", 1)
    click.echo(
        f"valid: {summary['events']} events of {summary['scanRef']}, each in the checkpoint of"
        f" {summary['treeSize']} events signed by {summary['verifier']}"
    )
    if verifier is None:
        click.echo("the key is the bundle's own: compare it with the one the ledger publishes",
                   err=True)  # fmt: skip
