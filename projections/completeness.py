"""Whether a verification has been heard from as it should (the contract's deadline rule),
and what iDenfy's status API last said of it.

A registered verification is expected to end by its registration time plus the token's
``expiryTime`` (3600 s when absent) plus ``sessionLength`` (600 s when absent): that is
``expectedBy``. Its ``deadline`` adds the configured grace. It is ``finished`` once it has a
terminal result (a final result, a cancel, an expiry, or a status check that decided), and
``overdue`` when it is not finished and now is past its deadline. The rules store
``deadline`` under the default grace and ``overdue`` as false; a status read puts the
configured grace and the time of the read in (``adapters.status_query``), since both
change without any event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.documents import Completeness
from projections.facts import REGISTERED, STATUS_CHECKED, Fact

DEFAULT_EXPIRY_TIME = 3600
DEFAULT_SESSION_LENGTH = 600
DEFAULT_GRACE = 3600


def iso(moment: datetime) -> str:
    """UTC with microseconds, as facts write times (so the strings sort as times do)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def expected_by(registration: Fact | None) -> str | None:
    """When a registered verification should have ended, or None when not registered."""
    if registration is None:
        return None
    expiry = registration.expiry_time
    session = registration.session_length
    seconds = (DEFAULT_EXPIRY_TIME if expiry is None else expiry) + (
        DEFAULT_SESSION_LENGTH if session is None else session
    )
    try:
        registered = datetime.fromisoformat(registration.received_at)
    except ValueError:  # facts always carry ISO times; a hand-made one may not
        return None
    return iso(registered + timedelta(seconds=seconds))


def deadline(expected: str | None, grace: int) -> str | None:
    if expected is None:
        return None
    return iso(datetime.fromisoformat(expected) + timedelta(seconds=grace))


def is_overdue(document: dict[str, Any], now: datetime) -> bool:
    """Not finished, and ``now`` past the document's deadline."""
    due = document.get("deadline")
    return due is not None and not document.get("finished") and iso(now) > due


def completeness(facts: Sequence[Fact], finished: bool) -> Completeness:
    """The status document's completeness fields, under the default grace."""
    registration = next((f for f in facts if f.kind == REGISTERED), None)
    expected = expected_by(registration)
    checks = [f for f in facts if f.kind == STATUS_CHECKED]
    last = checks[-1] if checks else None
    return {
        "registeredAt": registration.received_at if registration else None,
        "expectedBy": expected,
        "finished": finished,
        "deadline": deadline(expected, DEFAULT_GRACE),
        "overdue": False,
        "lastStatusCheck": None
        if last is None
        else {"at": last.received_at, "status": last.overall, "cause": last.cause},
    }


def awaiting_review_by_check(facts: Sequence[Fact], current: Fact | None) -> bool:
    """Whether the latest status check answered REVIEWING after the result in force."""
    checks = [f for f in facts if f.kind == STATUS_CHECKED and f.cause is None]
    if not checks or checks[-1].overall != "REVIEWING":
        return False
    return current is None or checks[-1].sequence > current.sequence
