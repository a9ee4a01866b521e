"""Audit commands: ``verify`` and ``export``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click
from eventsourcing.persistence import PersistenceError

from adapters.export import FORMATS, UnreadableEventError, Window, encoded
from app.bootstrap import open_ledger, open_tree, utc_now
from app.cli.common import fail, settings_from
from app.cli.progress import ProgressReporter
from app.cli.transparency import load_checkpoint, tree_check
from app.config import environment
from app.service.audit import DigestFileError, SavedDigest, UnreadableLedgerError, verify_ledger
from app.service.errors import StoreUnavailableError


@click.command()
@click.option("--digest", "digest_file", type=click.Path(path_type=Path), help="Check against it.")
@click.option("--save-digest", "save_file", type=click.Path(path_type=Path), help="Write it here.")
@click.option(
    "--checkpoint", "checkpoint_file", type=click.Path(path_type=Path), help="Prove it extended."
)
@click.option("--key", default=None, metavar="VERIFIER", help="The checkpoint's verifier key.")
def verify(
    digest_file: Path | None,
    save_file: Path | None,
    checkpoint_file: Path | None,
    key: str | None,
) -> None:
    """Recompute every hash chain and the Merkle tree, and check the ledger against an
    earlier digest or checkpoint.

    Exit status: 0 intact (and extends the checkpoint), 1 tampered or not extending it
    (each problem is named), 2 any other error.
    """
    settings = settings_from(environment())
    saved_checkpoint = None
    if checkpoint_file is not None:
        saved_checkpoint = load_checkpoint(checkpoint_file, key, settings)
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
    except UnreadableLedgerError as error:
        fail(str(error), 2)
    finally:
        reporter.close()
        ledger.close()
    if save_file is not None:
        try:
            save_file.write_text(json.dumps(report.digest.to_json()))
        except OSError as error:
            fail(f"cannot write {save_file}: {error.strerror}", 2)
    chains = len(report.digest.heads)
    tree = tree_check(open_tree(settings, open_ledger(settings, create_tables=False)),
                      saved_checkpoint)  # fmt: skip
    for line in tree.problems:
        click.echo(f"tampered: {line}")
    if not report.intact:
        for problem in report.problems:
            click.echo(
                f"tampered: {problem.scan_ref} sequence {problem.sequence}: {problem.reason}"
            )
        names = sorted({p.scan_ref for p in report.problems})
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        fail(f"tampered: {len(report.problems)} problem(s) in {shown}", 1)
    if not tree.intact:
        fail(f"tampered: {len(tree.problems)} problem(s) in the Merkle tree", 1)
    click.echo(
        f"intact: {report.events} events in {chains} verifications; digest {report.digest.digest}"
    )
    click.echo(f"tree: {tree.events} leaves, root {tree.root.hex()}")
    if saved_checkpoint is not None:
        click.echo(f"extends: the checkpoint of {saved_checkpoint.size} events")


@click.command()
@click.option("--since", default=None, help="A ledger position or an ISO 8601 time.")
@click.option("--until", default=None, help="A ledger position or an ISO 8601 time.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="ndjson", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Default: stdout.")
def export(since: str | None, until: str | None, fmt: str, output: Path | None) -> None:
    """Write every verification event in the window, in ledger order."""
    settings = settings_from(environment())
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
    except UnreadableEventError as error:
        fail(str(error), 1)
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


COMMANDS = [verify, export]
