"""The verifiable log's commands (ADR 28): ``checkpoint`` (and ``checkpoint keygen``),
``bundle``, and the tree check of ``verify``."""

from __future__ import annotations

from pathlib import Path

import click
from eventsourcing.persistence import PersistenceError

from adapters.merkle_tables import TreeMovedError, UnreadableHashError
from adapters.signed_note import Checkpoint, NoteError, Signer, Verifier
from app.bootstrap import open_ledger, open_tree
from app.cli.common import fail, settings_from
from app.config import CHECKPOINT_KEY, Settings, environment
from app.service.errors import StoreUnavailableError
from app.service.evidence import make_bundle
from app.service.merkle_log import NoSignerError, NotInTreeError, TreeLog
from app.service.tree_audit import TreeReport, audit_tree


def _tree(settings: Settings) -> TreeLog:
    try:
        return open_tree(settings, open_ledger(settings, create_tables=False))
    except StoreUnavailableError as error:
        fail(str(error), 2)


@click.group(invoke_without_command=True)
@click.option("--save", "save_file", type=click.Path(path_type=Path), help="Also write it here.")
@click.pass_context
def checkpoint(ctx: click.Context, save_file: Path | None) -> None:
    """Print (and save) a signed checkpoint of the whole ledger, and keep it."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_from(environment())
    if settings.checkpoint_key is None:
        fail(f"{CHECKPOINT_KEY} is not set; make a key with `ledger checkpoint keygen NAME`")
    tree = _tree(settings)
    try:
        note = tree.checkpoint()
    except (PersistenceError, TreeMovedError, UnreadableHashError) as error:
        fail(f"cannot make a checkpoint: {error}", 2)
    finally:
        tree.ledger.close()
    if save_file is not None:
        try:
            save_file.write_text(note, encoding="utf-8")
        except OSError as error:
            fail(f"cannot write {save_file}: {error.strerror}", 2)
    click.echo(note, nl=False)


@checkpoint.command()
@click.argument("name")
def keygen(name: str) -> None:
    """Print a new checkpoint signer key (for LEDGER_CHECKPOINT_KEY), then its verifier key."""
    try:
        signer = Signer.generate(name)
    except NoteError as error:
        fail(str(error))
    click.echo(str(signer))
    click.echo(str(signer.verifier()))
    click.echo(f"{CHECKPOINT_KEY} is the first line (keep it secret); publish the second",
               err=True)  # fmt: skip


@click.command()
@click.argument("scan_ref")
@click.option("--output", type=click.Path(path_type=Path), required=True, help="The zip.")
def bundle(scan_ref: str, output: Path) -> None:
    """Write the evidence bundle of one verification, to check offline with verify-bundle."""
    settings = settings_from(environment())
    tree = _tree(settings)
    try:
        made = make_bundle(tree, scan_ref)
    except NotInTreeError as error:
        fail(str(error), 1)
    except NoSignerError as error:
        fail(f"{error} ({CHECKPOINT_KEY})", 2)
    except (PersistenceError, TreeMovedError, UnreadableHashError) as error:
        fail(f"cannot make the bundle: {error}", 2)
    finally:
        tree.ledger.close()
    try:
        output.write_bytes(made.data)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}", 2)
    click.echo(f"bundle of {scan_ref}: {output}, proved against the checkpoint of"
               f" {made.tree_size} events")  # fmt: skip


def load_checkpoint(path: Path, key: str | None, settings: Settings) -> Checkpoint:
    """The saved checkpoint, once its signature checks (exit 2 otherwise)."""
    try:
        if key is not None:
            verifier = Verifier.parse(key)
        elif settings.checkpoint_key is not None:
            verifier = settings.checkpoint_key.verifier()
        else:
            fail(f"give --key VERIFIER, or set {CHECKPOINT_KEY}, to check {path} with")
        return Checkpoint.open(path.read_text(encoding="utf-8"), verifier)
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}", 2)
    except (NoteError, UnicodeDecodeError) as error:
        fail(f"{path}: not a checkpoint signed by that key ({error})", 2)


def tree_check(tree: TreeLog, saved: Checkpoint | None) -> TreeReport:
    """The tree rebuilt from the events and compared (``ledger verify``)."""
    try:
        return audit_tree(tree, saved)
    except PersistenceError as error:
        fail(f"cannot read the ledger: {error}", 2)
    finally:
        tree.ledger.close()


COMMANDS = [checkpoint, bundle]
