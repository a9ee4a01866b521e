"""Who is signed in to the auditor UI: signed session cookies and CSRF tokens.

The session cookie names a random session id, the API key (its key id, never the
token) and an expiry, and is signed with a key derived from that API key's own token:
forging a session needs the token it stands for, removing a key from the
configuration ends its sessions, and every worker process of one deployment accepts
the same cookies. A signed cookie is not enough on its own: its session must also be
live in ``adapters.session_store`` (ADR 24), which signing out ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.config import ApiKey
from app.service.access import AUDITOR_ROLES, ApiKeys, Caller

SESSION_COOKIE = "ledger_ui_session"
CSRF_COOKIE = "ledger_ui_csrf"
SESSION_LIFETIME = timedelta(hours=8)
VERSION = "v2"
SESSION_PURPOSE = b"verification-ledger ui session\x00"
CSRF_PURPOSE = b"verification-ledger ui csrf\x00"


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    """A session as its signed cookie names it."""

    caller: Caller
    id: str
    expires: int
    cookie: str


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

    def key_ids(self) -> list[str]:
        """The key ids of the configured keys that may hold a session."""
        return [key_id for key_id, (c, _) in self._callers.items() if c.role in AUDITOR_ROLES]

    def open(self, caller: Caller, now: datetime) -> Session:
        """A new session for ``caller``, valid for ``SESSION_LIFETIME``."""
        _, signing = self._callers[caller.key_id]
        session_id = secrets.token_urlsafe(24)
        expires = int((now + SESSION_LIFETIME).timestamp())
        payload = f"{VERSION}.{session_id}.{caller.key_id}.{expires}"
        return Session(caller, session_id, expires, f"{payload}.{_mac(signing, payload)}")

    def issue(self, caller: Caller, now: datetime) -> str:
        """A session cookie value for ``caller``, valid for ``SESSION_LIFETIME``."""
        return self.open(caller, now).cookie

    def session(self, cookie: str | None, now: datetime) -> Session | None:
        """The session a cookie names, or None when it is forged, expired or its key is
        no longer configured (whether it has ended is for the session store to say)."""
        parts = (cookie or "").split(".")
        if len(parts) != 5:
            return None
        version, session_id, key_id, expires, mac = parts
        found = self._callers.get(key_id)
        if version != VERSION or found is None or not expires.isdigit() or not session_id:
            return None
        caller, signing = found
        expected = _mac(signing, f"{version}.{session_id}.{key_id}.{expires}")
        if not hmac.compare_digest(expected, mac):
            return None
        if int(expires) <= now.timestamp() or caller.role not in AUDITOR_ROLES:
            return None
        return Session(caller, session_id, int(expires), cookie or "")

    def caller(self, cookie: str | None, now: datetime) -> Caller | None:
        """The auditor a validly signed, unexpired cookie stands for, or None."""
        found = self.session(cookie, now)
        return None if found is None else found.caller

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
