"""The auditor web UI under ``/ui``: server-rendered pages over the auditor's reads.

``create_ui`` builds a Starlette app of its own (HTML errors, its own routes and
static files) for ``create_app`` to mount; ``SecurityHeaders`` puts the browser
security headers on every response under ``/ui``.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import RETRY_AFTER_SECONDS
from app.service.services import Services
from app.ui import auth as ui_auth
from app.ui import client_pages, completeness_pages, subject_pages
from app.ui import pages as ui_pages
from app.ui.auth import SignInRequiredError, current_caller, sign_in_redirect
from app.ui.render import PREFIX, UiState, render
from app.ui.session import UiSessions

log = logging.getLogger("ledger.ui")

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response whose path is under ``/ui``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(f"{PREFIX}/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequiredError)
    return sign_in_redirect(request, exc.next_path)


async def http_error(state: UiState, request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    context = {"status": exc.status_code, "detail": exc.detail}
    try:
        caller = await current_caller(state, request) if exc.status_code != 503 else None
    except HTTPException:
        caller = None
    response = render(
        state, request, "error.html", context, caller=caller, status_code=exc.status_code
    )
    if exc.status_code == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


async def unexpected_error(state: UiState, request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    context = {"status": 500, "detail": "Something went wrong on our side."}
    return render(state, request, "error.html", context, caller=None, status_code=500)


def create_ui(services: Services) -> Starlette:
    """The auditor UI over ``services``, to be mounted at ``/ui``."""
    sessions = UiSessions(services.api_keys, services.settings.api_keys)
    # Sessions signed in with a key this configuration no longer holds end here, in the
    # shared table too: putting the key back later does not bring them back (ADR 24).
    services.ui_sessions.keep_only(sessions.key_ids())
    state = UiState(services, sessions)
    routes = [
        Route("/", partial(ui_pages.home, state), methods=["GET"]),
        Route("/login", partial(ui_auth.login_page, state), methods=["GET"]),
        Route("/login", partial(ui_auth.login, state), methods=["POST"]),
        Route("/logout", partial(ui_auth.logout, state), methods=["POST"]),
        Route("/search", partial(ui_pages.search, state), methods=["GET"]),
        Route("/recent", partial(ui_pages.recent, state), methods=["GET"]),
        Route("/verifications/{scan_ref}", partial(ui_pages.verification, state), methods=["GET"]),
        Route("/verifications/{scan_ref}/report", partial(ui_pages.report, state), methods=["GET"]),
        Route("/verifications/{scan_ref}/bundle", partial(ui_pages.bundle, state), methods=["GET"]),
        Route(
            "/verifications/{scan_ref}/payloads/{sequence:int}",
            partial(ui_pages.payload, state),
            methods=["GET"],
        ),
        Route("/clients/{client_id:path}", partial(client_pages.client, state), methods=["GET"]),
        Route("/overdue", partial(completeness_pages.overdue, state), methods=["GET"]),
        Route("/completeness", partial(completeness_pages.completeness, state), methods=["GET"]),
        Route(
            "/completeness.md",
            partial(completeness_pages.completeness_markdown, state),
            methods=["GET"],
        ),
        Route("/aml", partial(subject_pages.monitorings, state), methods=["GET"]),
        Route("/aml/{name}", partial(subject_pages.monitoring, state), methods=["GET"]),
        Route("/companies", partial(subject_pages.companies, state), methods=["GET"]),
        Route("/companies/{name}", partial(subject_pages.company, state), methods=["GET"]),
        *(
            Route(
                f"/{path}/{{name}}/payloads/{{sequence:int}}",
                partial(subject_pages.subject_payload, state),
                methods=["GET"],
            )
            for path in ("aml", "companies")
        ),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    ui = Starlette(
        routes=routes,
        exception_handlers={
            SignInRequiredError: sign_in_required,
            HTTPException: partial(http_error, state),
            Exception: partial(unexpected_error, state),
        },
    )
    ui.router.redirect_slashes = False  # its redirects would name the caller's Host
    return ui
