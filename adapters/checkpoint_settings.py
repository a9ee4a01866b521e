"""The verifiable log's settings (ADR 28), read from a mapping of the environment's
variables (``app.config.load`` turns ``SettingError`` into its own error)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.completeness_settings import SettingError
from adapters.signed_note import NoteError, Signer

CHECKPOINT_KEY = "LEDGER_CHECKPOINT_KEY"
CHECKPOINT_INTERVAL = "LEDGER_CHECKPOINT_INTERVAL"
TREE_FOLLOWER = "LEDGER_TREE_FOLLOWER"
DEFAULT_CHECKPOINT_INTERVAL = 300


@dataclass(frozen=True)
class LogSettings:
    key: Signer | None = field(default=None, repr=False)
    interval: int = DEFAULT_CHECKPOINT_INTERVAL
    follower: bool = True
    """Whether the projection processes keep the tree up with the ledger as it grows
    (``off``: checkpoints, proofs and bundles bring it up to date when asked)."""


def parse_log(environ: Mapping[str, str]) -> LogSettings:
    raw_key = environ.get(CHECKPOINT_KEY, "").strip()
    try:
        key = Signer.parse(raw_key) if raw_key else None
    except NoteError as error:
        raise SettingError(
            f"{CHECKPOINT_KEY}: {error} (make one with `ledger checkpoint keygen NAME`)"
        ) from None
    raw = environ.get(CHECKPOINT_INTERVAL, "").strip()
    if raw and (not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 1_000_000):
        raise SettingError(f"{CHECKPOINT_INTERVAL}: expected a whole number from 1 to 1000000")
    follower = environ.get(TREE_FOLLOWER, "").strip().lower() or "on"
    if follower not in ("on", "off"):
        raise SettingError(f"{TREE_FOLLOWER}: expected on or off")
    interval = int(raw) if raw else DEFAULT_CHECKPOINT_INTERVAL
    return LogSettings(key=key, interval=interval, follower=follower == "on")
