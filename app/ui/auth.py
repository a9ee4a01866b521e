"""Signing in to and out of the auditor UI, and the gate every other page goes through."""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.http.auditor import record_read
from app.service.access import AUDITOR_ROLES, Caller
from app.service.services import Services
from app.ui.render import PREFIX, clear_cookie, render, set_cookie, ui_state
from app.ui.session import CSRF_COOKIE, SESSION_COOKIE, SESSION_LIFETIME

FORM_LIMIT = 16 * 1024
HOME = f"{PREFIX}/recent"


class SignInRequiredError(Exception):
    """A page was asked for without a valid session; ``next`` is where to go back to."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


def current_caller(request: Request) -> Caller | None:
    """The signed-in auditor, or None."""
    state = ui_state(request)
    return state.sessions.caller(request.cookies.get(SESSION_COOKIE), state.services.clock())


async def audited(request: Request) -> tuple[Services, Caller]:
    """The services and the signed-in auditor, once the read is in the access log."""
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    caller = current_caller(request)
    if caller is None:
        raise SignInRequiredError(target)
    services = ui_state(request).services
    await record_read(services, caller, f"{request.method} {target}")
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


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    sessions = ui_state(request).sessions
    return sessions.csrf_ok(request.cookies.get(CSRF_COOKIE), form.get("csrf"))


def login_form(
    request: Request, next_path: str, error: str | None = None, status_code: int = 200
) -> Response:
    hours = int(SESSION_LIFETIME.total_seconds() // 3600)
    context = {"next": safe_next(next_path), "error": error, "sessionHours": hours}
    return render(request, "login.html", context, caller=None, status_code=status_code)


async def login_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if current_caller(request) is not None:
        return RedirectResponse(next_path, 303)
    return login_form(request, next_path)


async def login(request: Request) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    if not csrf_ok(request, form):
        message = "The sign-in form had expired. Please try again."
        return login_form(request, next_path, message, 403)
    state = ui_state(request)
    caller = state.services.api_keys.caller(form.get("token", "").strip())
    if caller is None:
        return login_form(request, next_path, "Unknown API key.", 401)
    if caller.role not in AUDITOR_ROLES:
        message = (
            f"A {caller.role} key cannot sign in to the auditor UI: use an auditor or admin key."
        )
        return login_form(request, next_path, message, 403)
    response = RedirectResponse(next_path, 303)
    cookie = state.sessions.issue(caller, state.services.clock())
    lifetime = int(SESSION_LIFETIME.total_seconds())
    set_cookie(response, request, SESSION_COOKIE, cookie, max_age=lifetime)
    set_cookie(response, request, CSRF_COOKIE, state.sessions.new_csrf_nonce())
    return response


async def logout(request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form):
        raise HTTPException(403, "the sign-out form had expired; reload the page and try again")
    response = RedirectResponse(f"{PREFIX}/login", 303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response
