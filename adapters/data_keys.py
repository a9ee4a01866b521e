"""Per-subject data keys: every payload sealed under a key of its subject (ADR 31).

A subject is a client (``client:{clientId}``) or, when a verification names no client,
the verification itself (``ref:{scanRef}``). Its key is 32 random bytes, kept in the
ledger's own database (``ledger_data_keys``), wrapped with AES-GCM under
``LEDGER_ENCRYPTION_KEY`` when one is set. A sealed payload is ``SEALED``, the key's id
(16 bytes), a 12-byte nonce and the AES-GCM ciphertext of the payload compressed with
zlib (ciphertext does not compress: the store's own compression no longer can), the key
id bound in as associated data. Erasing a client destroys its keys' bytes (the row stays,
with when and why): its payloads can never be read again, while every hash (which covers the
payload's SHA-256, never its bytes) still verifies.

A write that seals payloads stores the keys it made in the same transaction as its
events, and is refused there if a key it used was erased meanwhile (by another
process): the ledger then forgets the keys it remembers and writes again
(``app.service.ledger``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import IntegrityError

from adapters.key_wrap import Wrapper
from adapters.payload_subjects import stored_name
from adapters.sql import Sql

TABLE = "ledger_data_keys"
SEALED = b"\x00LK1"
"""How a sealed payload begins: no JSON body (nor any payload iDenfy sends) starts so."""
_ID, _NONCE = 16, 12
_HEAD = len(SEALED) + _ID + _NONCE
CACHE_LIMIT = 100_000


class ErasedKeyError(IntegrityError):
    """A write sealed a payload under a key erased since; it is written again."""


def is_sealed(payload: object) -> TypeGuard[bytes]:
    return isinstance(payload, bytes) and payload.startswith(SEALED)


def key_id_of(sealed: bytes) -> str:
    return sealed[len(SEALED) : len(SEALED) + _ID].hex()


@dataclass
class Sealing:
    """What one write seals with: keys it made (stored with its events), keys it used
    (checked not erased there), and verifications whose client became known (their
    ``ref:`` keys then belong to that client)."""

    keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    new_rows: list[tuple[str, str, str | None, bytes, str]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def seal(self, subject: str, plaintext: bytes) -> bytes:
        key_id, key = self.keys[subject]
        raw_id = bytes.fromhex(key_id)
        nonce = os.urandom(_NONCE)
        packed = zlib.compress(plaintext, 1)
        return SEALED + raw_id + nonce + AESGCM(key).encrypt(nonce, packed, raw_id)

    @property
    def used(self) -> list[str]:
        return sorted({key_id for key_id, _ in self.keys.values()})


_current = threading.local()


@contextlib.contextmanager
def sealing_in_progress(sealing: Sealing) -> Iterator[None]:
    """Make ``sealing`` the one this thread's event insert stores (``current_sealing``)."""
    _current.sealing = sealing
    try:
        yield
    finally:
        _current.sealing = None


def current_sealing() -> Sealing | None:
    return getattr(_current, "sealing", None)


def open_sealed(key: bytes, sealed: bytes) -> bytes:
    raw_id = sealed[len(SEALED) : len(SEALED) + _ID]
    nonce = sealed[len(SEALED) + _ID : _HEAD]
    return zlib.decompress(AESGCM(key).decrypt(nonce, sealed[_HEAD:], raw_id))


def _now() -> str:
    return datetime.now(UTC).isoformat()


class DataKeys:
    """The data keys of a ledger's database, and the seals made with them."""

    def __init__(self, sql: Sql, master: bytes | None):
        self.sql = sql
        self.table = sql.table(TABLE)
        self.wrapper = Wrapper(master)
        self._live: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()
        with contextlib.suppress(IntegrityError), sql.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (key_id TEXT PRIMARY KEY,"
                f" subject TEXT NOT NULL, client_id TEXT, wrapped {sql.blob},"
                " created_at TEXT NOT NULL, erased_at TEXT, erasure TEXT)"
            )
            c.execute(f'CREATE INDEX IF NOT EXISTS "{TABLE}_subject" ON {self.table} (subject)')
            c.execute(f'CREATE INDEX IF NOT EXISTS "{TABLE}_client" ON {self.table} (client_id)')

    def sealing(
        self, subjects: dict[str, str | None], links: Sequence[tuple[str, str]] = ()
    ) -> Sealing:
        """A sealing with a live key for each of ``subjects`` (subject: its client id):
        the one this process remembers, else a new one. A subject may so have several
        keys (a process makes one when it first writes for it, nothing is looked up);
        erasing its client destroys them all."""
        sealing = Sealing(links=list(links))
        for subject, client in subjects.items():
            key = self._live.get(subject)
            if key is None:
                key = (uuid.uuid4().hex, os.urandom(32))
                wrapped = self.wrapper.wrap(*key)
                sealing.new_rows.append((key[0], subject, client, wrapped, _now()))
            sealing.keys[subject] = key
        return sealing

    def remember(self, sealing: Sealing) -> None:
        """Keep the keys of a committed write for the next ones."""
        with self._lock:
            if len(self._live) > CACHE_LIMIT:
                self._live.clear()
            self._live.update(sealing.keys)

    def forget(self) -> None:
        """Drop every remembered key (one was found erased)."""
        with self._lock:
            self._live.clear()

    def keys_by_id(self, key_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The keys named, read from the store now (None: erased or never stored)."""
        wanted = sorted(set(key_ids))
        keys: dict[str, bytes | None] = dict.fromkeys(wanted)
        if not wanted:
            return keys
        with self.sql.reading() as c:
            for condition, params in self.sql.among("key_id", wanted):
                for row in c.execute(
                    f"SELECT key_id, wrapped FROM {self.table} WHERE {condition}", params
                ).fetchall():
                    if row["wrapped"] is not None:
                        key_id = str(row["key_id"])
                        keys[key_id] = self.wrapper.unwrap(key_id, bytes(row["wrapped"]))
        return keys

    def open_all(self, payloads: Sequence[bytes | None]) -> list[bytes | None]:
        """Each payload readable: sealed ones opened with their keys (one query for all),
        None where its key was erased; payloads never sealed come back as they are."""
        keys = self.keys_by_id(key_id_of(p) for p in payloads if is_sealed(p))
        opened: list[bytes | None] = []
        for payload in payloads:
            if not is_sealed(payload):
                opened.append(payload)
                continue
            key = keys.get(key_id_of(payload))
            if key is None:
                opened.append(None)
                continue
            try:
                opened.append(open_sealed(key, payload))
            except InvalidTag:  # changed where it is stored: shown as stored, so its
                opened.append(payload)  # SHA-256 no longer matches (tampering)
        return opened

    def check_master(self) -> None:
        """Raise ``WrongMasterKeyError`` unless the master key given opens a stored key."""
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT key_id, wrapped FROM {self.table} WHERE wrapped IS NOT NULL LIMIT 1"
            ).fetchone()
        if row is not None:
            self.wrapper.unwrap(str(row["key_id"]), bytes(row["wrapped"]))

    def scrub(self) -> str:
        """After keys were destroyed: SQLite (which overwrites what it deletes, with
        ``secure_delete``) moves its write-ahead log into the database file and empties
        it, so the old pages leave both files; what remains elsewhere is said."""
        if self.sql.postgres:
            return (
                "PostgreSQL: the keys' bytes are gone from their rows; old row versions stay"
                " in the table's files until VACUUM reclaims them, and in the write-ahead"
                " log archive and backups for as long as those are kept"
            )
        path = self.sql.datastore.pool.db_name  # type: ignore[union-attr]
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            return (
                "SQLite: readers kept the write-ahead log busy; it is emptied at a later checkpoint"
            )
        return "SQLite: deleted key bytes overwritten, write-ahead log checkpointed and emptied"


def stored_rows(sealing: Sealing) -> list[tuple[str, str, str | None, bytes, str]]:
    """The new keys' rows as the keys table holds them."""
    return [
        (k, s, None if c is None else stored_name(c), w, t) for k, s, c, w, t in sealing.new_rows
    ]


def stored_links(sealing: Sealing) -> list[tuple[str, str]]:
    """The links (subject, client) as the keys table holds their clients."""
    return [(subject, stored_name(client)) for subject, client in sealing.links]


def write_sealing(cursor: Any, table: str, sealing: Sealing, postgres: bool = False) -> None:
    """Store ``sealing``'s new keys and links with ``cursor``, inside the transaction that
    stores what it sealed; refuse it (``ErasedKeyError``) if one of its keys was erased."""
    mark = "%s" if postgres else "?"
    if sealing.new_rows:
        rows = stored_rows(sealing)
        cursor.executemany(
            f"INSERT INTO {table} (key_id, subject, client_id, wrapped, created_at)"
            f" VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) ON CONFLICT DO NOTHING",
            rows,
        )
    if sealing.links:
        cursor.executemany(
            f"UPDATE {table} SET client_id = {mark} WHERE subject = {mark} AND client_id IS NULL",
            [(client, subject) for subject, client in stored_links(sealing)],
        )
    used = sealing.used
    if used:
        marks = ", ".join([mark] * len(used))
        cursor.execute(
            f"SELECT key_id, wrapped FROM {table} WHERE key_id IN ({marks})"
            + (" FOR SHARE" if postgres else ""),  # an erasure waits for this write
            used,
        )
        if any(row["wrapped"] is None for row in cursor.fetchall()):
            raise ErasedKeyError("a data key this write used was erased meanwhile")


def open_events(keys: DataKeys, events: Sequence[Any]) -> set[int]:
    """Open the sealed payloads of ``events`` in place (each event's ``payload`` the bytes
    received, or None where its key was erased); the sequences of the erased ones."""
    sealed = [e for e in events if is_sealed(getattr(e, "payload", None))]
    erased: set[int] = set()
    for event, opened in zip(sealed, keys.open_all([e.payload for e in sealed]), strict=True):
        event.__dict__["payload"] = opened
        if opened is None:
            erased.add(event.originator_version)
    return erased
