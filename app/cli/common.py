"""What every ``ledger`` subcommand shares: the one-line failure and the settings."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import NoReturn

import click

from app.config import ConfigError, Settings, environment, load


def fail(message: str, code: int = 2) -> NoReturn:
    """Say why on one line of stderr, and exit with ``code``."""
    click.echo(f"ledger: {message.splitlines()[0] if message else 'failed'}", err=True)
    sys.exit(code)


def settings_from(
    environ: Mapping[str, str] | None = None, *, require_signing_keys: bool = False
) -> Settings:
    """Settings from the environment; only ``serve`` needs webhook signing keys."""
    try:
        return load(
            environment() if environ is None else environ, require_signing_keys=require_signing_keys
        )
    except ConfigError as error:
        fail(str(error))
