"""Bearer-token roles for the read and registration API."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.config import ApiKey

BACKEND_ROLES = frozenset({"backend", "auditor", "admin"})
AUDITOR_ROLES = frozenset({"auditor", "admin"})


class ApiKeys:
    """The configured tokens; a token is compared against each in constant time."""

    def __init__(self, keys: Iterable[ApiKey]):
        self._keys = tuple((key.role, key.token.encode()) for key in keys)

    def role_of(self, token: str) -> str | None:
        given = token.encode("utf-8", "replace")
        role = None
        for candidate_role, candidate in self._keys:
            if hmac.compare_digest(candidate, given) and role is None:
                role = candidate_role
        return role

    def require(self, request: Request, roles: frozenset[str]) -> str:
        """The caller's role, or 401 (no or unknown token) or 403 (role not allowed)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "an Authorization: Bearer token is required")
        role = self.role_of(token.strip())
        if role is None:
            raise HTTPException(401, "unknown API token")
        if role not in roles:
            raise HTTPException(403, f"the {role} role may not use this route")
        return role
