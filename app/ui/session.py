"""Who is signed in to the auditor UI: signed session cookies and CSRF tokens.

The session cookie names the API key (its key id, never the token) and an expiry,
and is signed with a key derived from that API key's own token: forging a session
needs the token it stands for, removing a key from the configuration ends its
sessions, and every worker process of one deployment accepts the same cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from app.config import ApiKey
from app.service.access import AUDITOR_ROLES, ApiKeys, Caller

SESSION_COOKIE = "ledger_ui_session"
CSRF_COOKIE = "ledger_ui_csrf"
SESSION_LIFETIME = timedelta(hours=8)
VERSION = "v1"
SESSION_PURPOSE = b"verification-ledger ui session\x00"
CSRF_PURPOSE = b"verification-ledger ui csrf\x00"


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


class UiSessions:
    """Issues and checks session cookies and CSRF tokens for the configured API keys."""

    def __init__(self, api_keys: ApiKeys, keys: Iterable[ApiKey]):
        self._callers: dict[str, tuple[Caller, bytes]] = {}
        tokens = []
        for key in keys:
            caller = api_keys.caller(key.token)
            if caller is not None:
                signing = hmac.new(key.token.encode(), SESSION_PURPOSE, hashlib.sha256).digest()
                self._callers[caller.key_id] = (caller, signing)
                tokens.append(key.token)
        # CSRF tokens only need a secret every worker shares; with no keys nobody signs in.
        material = "\x00".join(sorted(tokens)).encode() if tokens else secrets.token_bytes(32)
        self._csrf_key = hmac.new(material, CSRF_PURPOSE, hashlib.sha256).digest()

    def issue(self, caller: Caller, now: datetime) -> str:
        """A session cookie value for ``caller``, valid for ``SESSION_LIFETIME``."""
        _, signing = self._callers[caller.key_id]
        expires = int((now + SESSION_LIFETIME).timestamp())
        payload = f"{VERSION}.{caller.key_id}.{expires}"
        return f"{payload}.{_mac(signing, payload)}"

    def caller(self, cookie: str | None, now: datetime) -> Caller | None:
        """The auditor a cookie stands for, or None when it is forged, expired or revoked."""
        parts = (cookie or "").split(".")
        if len(parts) != 4:
            return None
        version, key_id, expires, mac = parts
        found = self._callers.get(key_id)
        if version != VERSION or found is None or not expires.isdigit():
            return None
        caller, signing = found
        expected = _mac(signing, f"{version}.{key_id}.{expires}")
        if not hmac.compare_digest(expected, mac):
            return None
        if int(expires) <= now.timestamp() or caller.role not in AUDITOR_ROLES:
            return None
        return caller

    @staticmethod
    def new_csrf_nonce() -> str:
        """A fresh random value for the CSRF cookie."""
        return secrets.token_urlsafe(24)

    def csrf_token(self, nonce: str) -> str:
        """The form token that goes with the CSRF cookie ``nonce``."""
        return _mac(self._csrf_key, nonce)

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether a form's token matches the CSRF cookie sent with it."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(nonce), token)
