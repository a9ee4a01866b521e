"""Bearer tokens on HTTP: the ``Authorization`` header, checked against the service's keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from app.service.access import Caller
from app.service.services import Services


def authorization(scope: Scope) -> str:
    """The request's ``Authorization`` header, or ``""``."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def require(services: Services, request: Request, roles: frozenset[str]) -> Caller:
    """The caller, or ``AccessDeniedError`` (rendered as 401 or 403)."""
    return services.api_keys.require_header(authorization(request.scope), roles)
