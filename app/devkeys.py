"""Keys for trying the service out: made once, kept beside the database, printed."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from adapters.persistence import SQLiteLocation, StoreLocation
from app.config import API_KEYS, SIGNING_KEYS

KEYS_FILE = "ledger-dev-keys.json"


class DevKeysError(ValueError):
    """The development keys file exists but cannot be used."""


def keys_path(store: StoreLocation) -> Path:
    folder = store.path.parent if isinstance(store, SQLiteLocation) else Path("var")
    return folder / KEYS_FILE


def dev_keys(store: StoreLocation) -> dict[str, str]:
    """The development settings for ``store``, made on first use and reused after."""
    path = keys_path(store)
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise DevKeysError(f"{path} is not a keys file ({error}); delete it") from None
        if isinstance(stored, dict) and {SIGNING_KEYS, API_KEYS} <= stored.keys():
            return {k: str(v) for k, v in stored.items()}
    keys = {
        SIGNING_KEYS: secrets.token_urlsafe(32),
        API_KEYS: ",".join(
            f"{role}:{secrets.token_urlsafe(24)}" for role in ("backend", "auditor", "admin")
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.new")
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(keys, file, indent=2)
    fresh.replace(path)
    return keys
