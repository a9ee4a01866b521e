"""A data key as stored: wrapped with AES-GCM under ``LEDGER_ENCRYPTION_KEY`` when one is
set (the key id bound in as associated data), else as it is."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RAW, WRAPPED = b"\x00", b"\x01"
"""The first byte of a stored key: the key as it is, or wrapped under the master key."""
_NONCE = 12


class WrongMasterKeyError(Exception):
    """A stored data key does not open under the master key given (or needs one)."""


class Wrapper:
    """Wraps data keys under the master key, or keeps them as they are without one."""

    def __init__(self, master: bytes | None):
        self.aead = AESGCM(master) if master else None

    def wrap(self, key_id: str, key: bytes) -> bytes:
        if self.aead is None:
            return RAW + key
        nonce = os.urandom(_NONCE)
        return WRAPPED + nonce + self.aead.encrypt(nonce, key, key_id.encode())

    def unwrap(self, key_id: str, stored: bytes) -> bytes:
        if stored[:1] == RAW:
            if self.aead is not None:
                raise WrongMasterKeyError("is set, but this store's data keys are not wrapped")
            return stored[1:]
        if self.aead is None:
            raise WrongMasterKeyError("is not set, but this store's data keys are wrapped")
        try:
            return self.aead.decrypt(stored[1:13], stored[13:], key_id.encode())
        except InvalidTag:
            raise WrongMasterKeyError("does not open this store's data keys") from None
