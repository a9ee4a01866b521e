"""``ledger rotate-key``: every data key wrapped again under a new master key, in one
transaction, with the store's key record; no event is rewritten (ADR 31)."""

from __future__ import annotations

import base64

from adapters.data_keys import TABLE as KEYS
from adapters.key_check import TABLE as KEY_CHECK
from adapters.key_check import key_record, master_cipher
from adapters.key_wrap import Wrapper
from adapters.sql import Sql


def rotate_master_key(sql: Sql, old_key: str | None, new_key: str) -> int:
    """Wrap every live data key under ``new_key`` (base64) instead of ``old_key``; how many
    keys. ``WrongMasterKeyError`` when ``old_key`` does not open them (nothing changed)."""
    old, new = Wrapper(_raw(old_key)), Wrapper(_raw(new_key))
    mode, sample = key_record(master_cipher(new_key))
    lock = " FOR UPDATE" if sql.postgres else ""
    with sql.transaction(commit=True) as c:
        rows = c.execute(
            f"SELECT key_id, wrapped FROM {sql.table(KEYS)} WHERE wrapped IS NOT NULL" + lock
        ).fetchall()
        rewrapped = []
        for row in rows:
            key_id = str(row["key_id"])
            key = old.unwrap(key_id, bytes(row["wrapped"]))
            rewrapped.append((new.wrap(key_id, key), key_id))
        c.cursor.executemany(
            sql.statement(f"UPDATE {sql.table(KEYS)} SET wrapped = ? WHERE key_id = ?"),
            rewrapped,
        )
        c.execute(
            f"UPDATE {sql.table(KEY_CHECK)} SET mode = ?, sample = ? WHERE id = 1",
            (mode, sample),
        )
    return len(rewrapped)


def _raw(key: str | None) -> bytes | None:
    return base64.b64decode(key) if key else None
