"""Which key a store's data is under, so that a wrong one is noticed at start-up.

The store keeps one row: whether its events are encrypted and, if they are, a known
text encrypted under the key. A service given another key (or none, or one where there
was none) is refused before it reads or writes anything: otherwise deliveries to
existing verifications fail, new ones are written under the new key, and the store ends
up holding data under two keys. A store from before this row existed is judged by its
first stored event, then gets its row.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from typing import Protocol

import msgspec
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment

from adapters.sql import Sql

TABLE = "ledger_key_check"
KNOWN = b"verification-ledger: the key that opens this store"
PLAIN, ENCRYPTED = "plain", "aes"


class Cipher(Protocol):
    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


def master_cipher(key: str | None) -> Cipher | None:
    """The AES-GCM cipher of ``LEDGER_ENCRYPTION_KEY`` (base64) as the store's key record,
    and events stored before data keys, were written with."""
    if not key:
        return None
    return AESCipher(Environment("key", {"CIPHER_KEY": key}))


class KeyMismatchError(Exception):
    """The key given does not open the store's data; the message says how."""


def check_key(sql: Sql, cipher: Cipher | None, first_state: Callable[[], bytes | None]) -> None:
    """Raise ``KeyMismatchError`` unless ``cipher`` (None: no key) opens the store's data;
    record what it is under when the store has no record of it yet."""
    # Another process may make the table at the same moment.
    with contextlib.suppress(IntegrityError), sql.transaction(commit=True) as c:
        c.execute(
            f"CREATE TABLE IF NOT EXISTS {sql.table(TABLE)}"
            " (id INTEGER PRIMARY KEY, mode TEXT NOT NULL, sample TEXT NOT NULL)"
        )
    with sql.transaction(commit=False) as c:
        row = c.execute(f"SELECT mode, sample FROM {sql.table(TABLE)} WHERE id = 1").fetchone()
    if row is None:
        _judge_first_event(cipher, first_state())
        mode, sample = key_record(cipher)
        with sql.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {sql.table(TABLE)} (id, mode, sample) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (mode, sample),
            )
            row = c.execute(f"SELECT mode, sample FROM {sql.table(TABLE)} WHERE id = 1").fetchone()
    _compare(cipher, str(row["mode"]), str(row["sample"]))


def key_record(cipher: Cipher | None) -> tuple[str, str]:
    if cipher is None:
        return PLAIN, ""
    return ENCRYPTED, base64.b64encode(cipher.encrypt(KNOWN)).decode()


def _compare(cipher: Cipher | None, mode: str, sample: str) -> None:
    if mode == PLAIN and cipher is not None:
        raise KeyMismatchError("is set, but this store's data was written without encryption")
    if mode == ENCRYPTED and cipher is None:
        raise KeyMismatchError("is not set, but this store's data is encrypted")
    if cipher is not None and not _opens(cipher, base64.b64decode(sample)):
        raise KeyMismatchError("does not open this store's data, written under another key")


def _opens(cipher: Cipher, ciphertext: bytes) -> bool:
    try:
        return cipher.decrypt(ciphertext) == KNOWN
    except ValueError:
        return False


def _judge_first_event(cipher: Cipher | None, state: bytes | None) -> None:
    """The same verdicts as ``_compare``, from a stored event's state."""
    if state is None:
        return
    try:
        msgspec.json.decode(state)
    except msgspec.DecodeError:
        pass  # encrypted whole, as events were before data keys
    else:
        return  # unencrypted: its payloads are under data keys, which judge the key
    if cipher is not None:
        try:
            cipher.decrypt(state)
        except ValueError:
            raise KeyMismatchError(
                "does not open this store's data (written under another key, or unencrypted)"
            ) from None
        return
    raise KeyMismatchError("is not set, but this store's data is encrypted")
