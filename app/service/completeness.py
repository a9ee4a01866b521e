"""The completeness statement of a period: of the verifications registered in it, how many
ended and how (a final result, a cancel, an expiry), which are overdue, how many iDenfy's
status API was asked about; and how many verifications were heard of without any
registration. An auditor files its Markdown form.

A window is ``[since, until)``: ``since`` included, ``until`` excluded, so consecutive
months never share a verification. Dates mean midnight UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from adapters.completeness_query import documents, registered_between, unregistered
from app.service.services import Services
from projections.completeness import iso


def moment(text: str, name: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or time with a zone; ValueError says what is wrong."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
        found = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, e.g. 2026-11-01") from None
    if found.tzinfo is None:
        raise ValueError(f"{name} needs a time zone, e.g. 2026-11-01T00:00:00Z")
    return found


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window:
        if not since or not until:
            raise ValueError("give both since and until")
        window = cls(moment(since, "since"), moment(until, "until"))
        if window.until <= window.since:
            raise ValueError("until must come after since")
        return window


def _ending(document: dict[str, Any]) -> str | None:
    """How a verification ended: finished, canceled, expired, or None while open."""
    if not document.get("finished"):
        return None
    return {"CANCELED": "canceled", "EXPIRED": "expired"}.get(document["status"], "finished")


def statement(services: Services, window: Window) -> dict[str, Any]:
    """The completeness statement of ``window``, as the ledger's views have it now."""
    view = services.views.status
    table = view.rows_table(view.generation())
    since, until = iso(window.since), iso(window.until)
    refs = registered_between(view.sql, table, since, until)
    docs = documents(view.sql, table, view.serving, refs)
    endings = [_ending(doc) for doc in docs]
    unheard = [
        doc["scanRef"]
        for doc in unregistered(view.sql, table)
        if doc.get("firstEventAt") and since <= doc["firstEventAt"] < until
    ]
    return {
        "since": since,
        "until": until,
        "registered": len(refs),
        "finished": endings.count("finished"),
        "canceled": endings.count("canceled"),
        "expired": endings.count("expired"),
        "overdue": sorted(doc["scanRef"] for doc in docs if doc["overdue"]),
        "open": sum(
            1 for doc, end in zip(docs, endings, strict=True) if end is None and not doc["overdue"]
        ),
        "statusChecked": sum(1 for doc in docs if doc.get("lastStatusCheck")),
        "unregistered": len(unheard),
        "unregisteredScanRefs": sorted(unheard),
        "generatedAt": iso(services.clock()),
        "rulesVersion": max((doc["rulesVersion"] for doc in docs), default=None),
    }


def markdown(found: dict[str, Any]) -> str:
    """The statement as a page an auditor can file."""
    lines = [
        f"# Completeness statement: {found['since']} to {found['until']}",
        "",
        f"Generated {found['generatedAt']} from the verification ledger"
        " (window: `since` included, `until` excluded).",
        "",
        "| | verifications |",
        "|---|---|",
        f"| registered in the window | {found['registered']} |",
        f"| ended with a final result | {found['finished']} |",
        f"| canceled | {found['canceled']} |",
        f"| expired | {found['expired']} |",
        f"| still open, not yet due | {found['open']} |",
        f"| overdue (no terminal result past the deadline) | {len(found['overdue'])} |",
        f"| asked about through iDenfy's status API | {found['statusChecked']} |",
        f"| heard of with no registration (first event in the window) | {found['unregistered']} |",
        "",
    ]
    for title, refs in (
        ("Overdue", found["overdue"]),
        ("Unregistered", found["unregisteredScanRefs"]),
    ):
        if refs:
            lines += [f"## {title}", "", *(f"- `{ref}`" for ref in refs), ""]
    return "\n".join(lines)
