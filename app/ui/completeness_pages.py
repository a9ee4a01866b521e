"""The auditor UI's completeness pages: overdue verifications with how late each is, and
the completeness statement of a chosen month (and its Markdown, to file)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.http.reads import read_view
from app.service.completeness import Window, markdown, statement
from app.ui.auth import audited
from app.ui.render import UiState, render
from projections.current_status import StatusFilter

OVERDUE_LIMIT = 200


def late_by(deadline: str, now: datetime) -> str:
    """How long past ``deadline`` ``now`` is, in days, hours and minutes."""
    minutes = int((now - datetime.fromisoformat(deadline)).total_seconds() // 60)
    days, rest = divmod(max(minutes, 0), 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


async def overdue(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    view = services.views.status
    where = StatusFilter(overdue=True)
    items = await read_view(request, view, view.statuses, where, OVERDUE_LIMIT, None)
    now = services.clock()
    for item in items:
        item["lateBy"] = late_by(item["deadline"], now)
    items.sort(key=lambda item: item["deadline"])
    context = {"items": items, "grace": view.serving.grace, "limit": OVERDUE_LIMIT}
    return render(state, request, "overdue.html", context, caller=caller)


def month_window(raw: str | None, today: date) -> tuple[str, Window]:
    """The month ``YYYY-MM`` (this month when not given) and its window."""
    text = raw or today.strftime("%Y-%m")
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError:
        raise HTTPException(422, "month must be YYYY-MM, e.g. 2026-11") from None
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    until = datetime.combine(following, datetime.min.time(), UTC)
    return text, Window(since, until)


async def _statement(request: Request, state: UiState) -> tuple[Any, Any, str, dict[str, Any]]:
    services, caller = await audited(state, request)
    month, window = month_window(request.query_params.get("month"), services.clock().date())
    try:
        found = await run_in_threadpool(statement, services, window)
    except PersistenceError:
        raise HTTPException(503, "the views cannot be read right now") from None
    return services, caller, month, found


async def completeness(state: UiState, request: Request) -> Response:
    _, caller, month, found = await _statement(request, state)
    context = {"month": month, "statement": found}
    return render(state, request, "completeness.html", context, caller=caller)


async def completeness_markdown(state: UiState, request: Request) -> Response:
    _, _, month, found = await _statement(request, state)
    return PlainTextResponse(
        markdown(found),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="completeness-{month}.md"'},
    )
