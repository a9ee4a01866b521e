"""The server as ``ledger serve`` runs it: the API (``app.http``) with the auditor UI
(``app.ui``) mounted at ``/ui``, over the services ``app.bootstrap`` builds."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from adapters.persistence import PostgresLocation
from app import heap, logs
from app.bootstrap import bootstrap
from app.config import environment, load
from app.http.app import LedgerApp, create_api
from app.service.services import Services
from app.service.writer import WriterStoppedError
from app.ui.app import SecurityHeaders, create_ui

log = logging.getLogger("ledger.http")

GIL_SWITCH_SECONDS = 0.0002


async def ui_slash(scope: Scope, receive: Receive, send: Send) -> None:
    """``/ui`` is ``/ui/``: a redirect by path alone, so the ``Host`` a caller sent never
    ends up in it."""
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{scope.get('root_path', '')}/ui/" + (f"?{query}" if query else "")
    await RedirectResponse(target, status_code=307)(scope, receive, send)


def create_app(services: Services) -> LedgerApp:
    """The API and the auditor UI over ``services``; closing them is the caller's business."""
    return create_api(
        services,
        [
            # The auditor UI, with its security headers; API routes go without that layer.
            Route("/ui", SecurityHeaders(ui_slash), methods=["GET", "HEAD"]),
            Mount("/ui", app=SecurityHeaders(create_ui(services))),
        ],
    )


def served_app() -> LedgerApp:
    """What ``ledger serve``'s uvicorn runs: the service configured from the environment,
    its start-up objects left out of later garbage collections once it has started
    (``app.heap``)."""
    return create_app_from_environment(settle_heap=True)


def create_app_from_environment(*, settle_heap: bool = False) -> LedgerApp:
    """The service as ``ledger serve`` runs it: configured from the environment."""
    settings = load(environment())
    logs.configure(text=settings.text_logs)
    # The ledger's writer thread in this process (on SQLite; on PostgreSQL only for
    # registrations) spends its time waiting for the store, and each time its answer
    # comes it must get the GIL back from the busy event loop; a shorter switch interval
    # hands it over sooner (ADR 18).
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # `ledger serve` has set up the store before starting the server processes.
    # On PostgreSQL deliveries are committed by a process of their own, in parallel
    # (ADR 11).
    writer_process = isinstance(settings.store, PostgresLocation)
    services = bootstrap(settings, create_tables=False, writer_process=writer_process)

    app = create_app(services)
    own_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            try:
                await services.recorder.start()
            except WriterStoppedError as error:
                # Deliveries get 503s until a writer process can start.
                log.error("%s", error)
            async with own_lifespan(app):
                if settle_heap:
                    heap.settle()
                yield
        finally:
            await services.recorder.close()
            services.close()

    app.router.lifespan_context = lifespan
    return app
