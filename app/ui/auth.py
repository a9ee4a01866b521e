"""Signing in to and out of the auditor UI, and the gate every other page goes through."""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.http.auth import source_address
from app.http.trail import note_failure, note_read
from app.service.access import AUDITOR_ROLES, Caller
from app.service.services import Services
from app.ui.render import PREFIX, UiState, clear_cookie, render, set_cookie
from app.ui.session import CSRF_COOKIE, SESSION_COOKIE, SESSION_LIFETIME, Session

FORM_LIMIT = 16 * 1024
HOME = f"{PREFIX}/recent"


class SignInRequiredError(Exception):
    """A page was asked for without a valid session; ``next`` is where to go back to."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


def signed_session(state: UiState, request: Request) -> Session | None:
    """The session the request's cookie names, if validly signed and unexpired."""
    return state.sessions.session(request.cookies.get(SESSION_COOKIE), state.services.clock())


async def current_caller(state: UiState, request: Request) -> Caller | None:
    """The signed-in auditor, or None; a session that has ended (signed out, or its key
    removed) stands for nobody, in every process (ADR 24)."""
    found = signed_session(state, request)
    if found is None:
        return None
    services = state.services
    now = int(services.clock().timestamp())
    try:
        live = await run_in_threadpool(
            services.ui_sessions.live, found.id, found.caller.key_id, now
        )
    except PersistenceError:
        raise HTTPException(503, "sessions cannot be checked right now") from None
    return found.caller if live else None


async def audited(state: UiState, request: Request) -> tuple[Services, Caller]:
    """The services and the signed-in auditor, once the read is in the access log."""
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    caller = await current_caller(state, request)
    if caller is None:
        raise SignInRequiredError(target)
    services = state.services
    await note_read(services, caller, f"{request.method} {target}")
    return services, caller


def safe_next(value: str | None) -> str:
    """A place inside the UI to go after signing in; anything else goes home."""
    if not value or not value.startswith(f"{PREFIX}/") or "\\" in value or "//" in value:
        return HOME
    if value.startswith((f"{PREFIX}/login", f"{PREFIX}/logout")):
        return HOME
    return value


def sign_in_redirect(request: Request, next_path: str) -> RedirectResponse:
    response = RedirectResponse(f"{PREFIX}/login?next={quote(safe_next(next_path))}", 303)
    if SESSION_COOKIE in request.cookies:
        clear_cookie(response, request, SESSION_COOKIE)
    return response


async def read_form(request: Request) -> dict[str, str]:
    """A small url-encoded form; each field's first value."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise HTTPException(415, "expected a form")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise HTTPException(413, "the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def csrf_ok(state: UiState, request: Request, form: dict[str, str]) -> bool:
    sessions = state.sessions
    return sessions.csrf_ok(request.cookies.get(CSRF_COOKIE), form.get("csrf"))


def login_form(
    state: UiState,
    request: Request,
    next_path: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    hours = int(SESSION_LIFETIME.total_seconds() // 3600)
    context = {"next": safe_next(next_path), "error": error, "sessionHours": hours}
    return render(state, request, "login.html", context, caller=None, status_code=status_code)


async def login_page(state: UiState, request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await current_caller(state, request) is not None:
        return RedirectResponse(next_path, 303)
    return login_form(state, request, next_path)


async def login(state: UiState, request: Request) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    if not csrf_ok(state, request, form):
        message = "The sign-in form had expired. Please try again."
        return login_form(state, request, next_path, message, 403)
    address = source_address(request.scope)
    wait = state.services.auth_failures.retry_after(address)
    if wait is not None:
        message = f"Too many failed sign-ins. Please try again in {wait} seconds."
        response = login_form(state, request, next_path, message, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    tried = form.get("token", "").strip()
    caller = state.services.api_keys.caller(tried)
    if caller is None:
        await note_failure(state.services, address, tried, "POST /ui/login", "unknown API key")
        return login_form(state, request, next_path, "Unknown API key.", 401)
    if caller.role not in AUDITOR_ROLES:
        message = (
            f"A {caller.role} key cannot sign in to the auditor UI: use an auditor or admin key."
        )
        return login_form(state, request, next_path, message, 403)
    response = RedirectResponse(next_path, 303)
    cookie = await start_session(
        state.services, state.sessions.open(caller, state.services.clock())
    )
    lifetime = int(SESSION_LIFETIME.total_seconds())
    set_cookie(response, request, SESSION_COOKIE, cookie, max_age=lifetime)
    set_cookie(response, request, CSRF_COOKIE, state.sessions.new_csrf_nonce())
    return response


async def logout(state: UiState, request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(state, request, form):
        raise HTTPException(403, "the sign-out form had expired; reload the page and try again")
    found = signed_session(state, request)
    if found is not None:
        try:
            await run_in_threadpool(state.services.ui_sessions.end, found.id)
        except PersistenceError:
            raise HTTPException(503, "the session cannot be ended right now; try again") from None
    response = RedirectResponse(f"{PREFIX}/login", 303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


async def start_session(services: Services, session: Session) -> str:
    """Record ``session`` as live in every process; its cookie."""
    now = int(services.clock().timestamp())
    try:
        await run_in_threadpool(
            services.ui_sessions.start, session.id, session.caller.key_id, session.expires, now
        )
    except PersistenceError:
        raise HTTPException(503, "the session cannot be started right now; try again") from None
    return session.cookie
