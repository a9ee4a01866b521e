"""The store's keys at start-up: the master key checked against the store, and a store
from before per-subject data keys brought to them (ADR 31)."""

from __future__ import annotations

import sys
import time

from adapters.key_check import KeyMismatchError, check_key, master_cipher
from adapters.key_wrap import WrongMasterKeyError
from adapters.payload_migration import MigrationError, migrate_payloads, migrated
from app.config import ENCRYPTION_KEY, ConfigError, Settings
from app.service.ledger import MASTER_KEY, Ledger


def checked(ledger: Ledger) -> Ledger:
    """``ledger``, once its encryption key is known to open the store's data
    (``ConfigError`` naming the variable otherwise: keys are never mixed)."""

    def first_state() -> bytes | None:
        found = ledger.recorder.select_notifications(start=None, limit=1)
        return found[0].state if found else None

    try:
        check_key(ledger.keys.sql, master_cipher(ledger.env.get(MASTER_KEY)), first_state)
        ledger.keys.check_master()
    except (KeyMismatchError, WrongMasterKeyError) as error:
        ledger.close()
        raise ConfigError(f"{ENCRYPTION_KEY}: {error}") from None
    return ledger


def migrate(settings: Settings, ledger: Ledger) -> None:
    """Seal the payloads of a store from before data keys (``adapters.payload_migration``),
    saying how far it has got on standard error."""
    if migrated(ledger.keys.sql):
        return
    shown = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - shown[0] > 1 or done == total:
            shown[0] = time.monotonic()
            print(f"sealing payloads under data keys: {done}/{total} events", file=sys.stderr)

    try:
        migrate_payloads(ledger, master_cipher(settings.encryption_key), progress)
    except MigrationError as error:
        raise ConfigError(f"{ENCRYPTION_KEY}: {error}") from None
