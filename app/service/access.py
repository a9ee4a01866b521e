"""Who may do what: the configured API tokens, their roles, and the callers they name."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from adapters.signing import fingerprint
from app.config import ApiKey
from app.service.errors import AccessDeniedError

BACKEND_ROLES = frozenset({"backend", "auditor", "admin"})
AUDITOR_ROLES = frozenset({"auditor", "admin"})


@dataclass(frozen=True)
class Caller:
    """Who is asking: a role, and an id for the token that does not reveal it."""

    role: str
    key_id: str


class ApiKeys:
    """The configured tokens; a token is compared against each in constant time."""

    def __init__(self, keys: Iterable[ApiKey]):
        self._keys = tuple(
            (Caller(key.role, f"{key.role}:{fingerprint(key.token)}"), key.token.encode())
            for key in keys
        )

    def caller(self, token: str) -> Caller | None:
        given = token.encode("utf-8", "replace")
        found = None
        for candidate, expected in self._keys:
            if hmac.compare_digest(expected, given) and found is None:
                found = candidate
        return found

    def role_of(self, token: str) -> str | None:
        found = self.caller(token)
        return None if found is None else found.role

    def require_header(self, authorization: str, roles: frozenset[str]) -> Caller:
        """The caller an ``Authorization: Bearer`` value names, if its role is in ``roles``;
        ``AccessDeniedError`` 401 (no or unknown token) or 403 (role not allowed)."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AccessDeniedError(401, "an Authorization: Bearer token is required")
        found = self.caller(token.strip())
        if found is None:
            raise AccessDeniedError(401, "unknown API token")
        if found.role not in roles:
            raise AccessDeniedError(403, f"the {found.role} role may not use this route")
        return found
