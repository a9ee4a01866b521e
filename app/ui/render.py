"""The auditor UI's pages: Jinja2 templates (autoescaped), cookies and the shared state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.service.access import Caller
from app.service.services import Services
from app.ui.session import CSRF_COOKIE, UiSessions

PREFIX = "/ui"

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("app.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class UiState:
    """What every UI endpoint works with."""

    services: Services
    sessions: UiSessions


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None
) -> None:
    """A cookie scripts cannot read, sent only to the UI and never from another site."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=PREFIX, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


def render(
    state: UiState,
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    caller: Caller | None,
    status_code: int = 200,
    new_csrf: bool = False,
) -> HTMLResponse:
    """A page from ``template``, with the CSRF token of its forms (and cookie, when new)."""
    sessions = state.sessions
    nonce = None if new_csrf else request.cookies.get(CSRF_COOKIE)
    fresh = nonce is None
    if nonce is None:
        nonce = sessions.new_csrf_nonce()
    html = TEMPLATES.get_template(template).render(
        {"ui": PREFIX, "caller": caller, "csrf": sessions.csrf_token(nonce), "query": ""} | context
    )
    response = HTMLResponse(html, status_code=status_code)
    if fresh:
        set_cookie(response, request, CSRF_COOKIE, nonce)
    return response
