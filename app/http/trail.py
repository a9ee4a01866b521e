"""What the access log is told at the HTTP edge: every failed authentication, and every
read by an auditor or admin token, whichever route it took (ADR 24)."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from adapters.signing import fingerprint
from app.service.access import AUDITOR_ROLES, Caller
from app.service.services import Services

log = logging.getLogger("ledger.http")

REFUSED = "refused"
"""The role an access log entry of a failed authentication names."""


def attempt_of(address: str, tried: str) -> str:
    """Who tried: the source address and a fingerprint of what was tried (never the
    token itself)."""
    return f"{address} tried:{fingerprint(tried) if tried else 'nothing'}"


async def note_failure(
    services: Services, address: str, tried: str, route: str, reason: str
) -> None:
    """Count a failed authentication from ``address`` and record it in the access log.

    The answer is a refusal either way, so a log that cannot be written is only logged.
    """
    services.auth_failures.failed(address)
    try:
        await run_in_threadpool(
            services.access_log.record,
            services.clock(),
            attempt_of(address, tried),
            REFUSED,
            f"{route} ({reason})",
        )
    except Exception:
        log.warning("the access log cannot be written: a failed authentication is not recorded")


async def note_read(services: Services, caller: Caller, what: str, *, change: bool = False) -> None:
    """Record a read (or a ``change``) by an auditor or admin token; without that note,
    nothing is read or changed (503). Reads with a backend token are not recorded."""
    if caller.role not in AUDITOR_ROLES:
        return
    try:
        await run_in_threadpool(
            services.access_log.record, services.clock(), caller.key_id, caller.role, what
        )
    except Exception:
        nothing = "nothing was changed" if change else "nothing was read"
        raise HTTPException(503, f"the access log cannot be written; {nothing}") from None
