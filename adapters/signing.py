"""Authenticity of webhook deliveries: iDenfy's HMAC-SHA256 over the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass


def fingerprint(key: str) -> str:
    """A short, stable name for a key that does not reveal it."""
    return hashlib.sha256(b"verification-ledger signing key\x00" + key.encode()).hexdigest()[:12]


def sign(key: str, body: bytes) -> str:
    """The ``Idenfy-Signature`` value iDenfy sends for ``body``: lowercase hex."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignatureVerifier:
    """Checks a delivery against every configured key, in constant time per key."""

    keys: Sequence[str]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one signing key is required")

    def matching_key(self, body: bytes, signature: str | None) -> str | None:
        """The id (``#position:fingerprint``) of the key that signed ``body``, or None."""
        given = (signature or "").strip().lower().encode("ascii", "replace")
        matched: str | None = None
        for position, key in enumerate(self.keys, start=1):
            expected = sign(key, body).encode("ascii")
            # Every key is tried, whether an earlier one matched or not.
            if hmac.compare_digest(expected, given) and matched is None:
                matched = f"#{position}:{fingerprint(key)}"
        return matched
