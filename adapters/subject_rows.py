"""The rows of AML monitorings and companies in ``current_status``, and their reads.

The ledger's other subjects (``domain.reports.SUBJECT_PREFIXES``) are folded like
verifications, so their facts, documents and timelines live in the same tables, keyed
by the subject (``aml:{monitoringId}``, ``company:{id}``). A verification's row holds 0
or 1 in ``final``; the other rows hold their kind there, so that every read of
verifications keeps to ``final < 2`` (``VERIFICATION_ROWS``) and a list of monitorings
or companies is a look-up of one kind. (``other:{TYPE}`` subjects, unmodelled types naming
no verification, have rows of a kind of their own.)

A monitoring also writes one row per verification it names (``AML_LINK`` + scanRef),
holding ``{"monitoringId", "status", "alertStatus"}``: a status read joins it into the
verification's document as ``amlMonitoring``. A later delivery of any monitoring naming
the same verification replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from adapters.fact_codec import encode_facts
from adapters.sql import Sql
from adapters.status_query import AML_LINK
from adapters.views import decode_json, encode_json
from domain.reports import (
    AML_SUBJECT,
    COMPANY_SUBJECT,
    OTHER_SUBJECT,
    POLICY_PREFIX,
    SUBJECT_PREFIXES,
)
from projections.completeness import iso

MONITORING_ROW, COMPANY_ROW, LINK_ROW, OTHER_ROW, DUE_ROW = 2, 3, 4, 5, 6
DUE = "~due:"
"""The key prefix of a registered verification's deadline row: ``status`` holds its
``expectedBy`` while it is not finished (NULL once it is), ``client_id`` when iDenfy's
status API was last asked about it; so overdue verifications, and those of them not asked
about lately, are one range look-up."""
VERIFICATION_ROWS = "final < 2"
NO_FACTS = encode_facts([])
SUBJECT_ROWS = {
    AML_SUBJECT: MONITORING_ROW,
    COMPANY_SUBJECT: COMPANY_ROW,
    OTHER_SUBJECT: OTHER_ROW,
    POLICY_PREFIX: OTHER_ROW,
}


def subject_values(subject: str, document: Mapping[str, Any]) -> tuple[Any, ...]:
    """A monitoring's or company's ``current_status`` columns: its alert status or status
    where a verification has its status, its kind where a verification has ``final``."""
    kind = next(row for prefix, row in SUBJECT_ROWS.items() if subject.startswith(prefix))
    status = document["alertStatus"] if kind == MONITORING_ROW else document["status"]
    return (None, status, kind, 0, document["lastPosition"], encode_json(document))


def due_rows(subject: str, document: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """A registered verification's deadline row (``DUE``), none for others."""
    expected = document.get("expectedBy")
    if expected is None or subject.startswith(SUBJECT_PREFIXES):
        return []
    open_until = None if document["finished"] else expected
    checked = document["lastStatusCheck"]
    at = checked["at"] if checked else None
    note = encode_json({"registeredAt": document["registeredAt"]})
    return [(DUE + subject, at, open_until, DUE_ROW, 0, document["lastPosition"], note, NO_FACTS)]


def link_rows(subject: str, document: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows linking the verifications a monitoring names to it, none for others."""
    if not subject.startswith(AML_SUBJECT):
        return []
    link = encode_json(
        {
            "monitoringId": document["monitoringId"],
            "status": document["status"],
            "alertStatus": document["alertStatus"],
        }
    )
    position = document["lastPosition"]
    return [
        (AML_LINK + scan_ref, None, None, LINK_ROW, 0, position, link, NO_FACTS)
        for scan_ref in document["scanRefs"]
    ]


def subject_document(sql: Sql, table: str, subject: str) -> dict[str, Any] | None:
    """The document of a monitoring or company (``aml:...``, ``company:...``) in ``table``."""
    with sql.transaction(commit=False) as c:
        row = c.execute(
            f"SELECT document FROM {table} WHERE scan_ref = ? AND final IN (?, ?, ?)",
            (subject, MONITORING_ROW, COMPANY_ROW, OTHER_ROW),
        ).fetchone()
    return None if row is None else dict(decode_json(row["document"]))


def subject_documents(
    sql: Sql, table: str, prefix: str, status: str | None, limit: int, after: str | None
) -> list[dict[str, Any]]:
    """Documents of one kind of subject in ``table``, by id, after the id ``after``;
    ``status`` is a monitoring's alert status, or a company's status."""
    conditions: list[str] = ["final = ?"]
    params: list[Any] = [SUBJECT_ROWS[prefix]]
    if status is not None:
        conditions.append("status = ?")
        params.append(status)
    if after is not None:
        conditions.append("scan_ref > ?")
        params.append(prefix + after)
    with sql.transaction(commit=False) as c:
        rows = c.execute(
            f"SELECT document FROM {table} WHERE {' AND '.join(conditions)}"
            " ORDER BY scan_ref LIMIT ?",
            [*params, limit],
        ).fetchall()
    return [dict(decode_json(row["document"])) for row in rows]


def overdue_cutoff(now: datetime, grace: int) -> str:
    """Verifications expected by before this (ISO, as ``expectedBy`` is written) are overdue
    unless finished."""
    return iso(now - timedelta(seconds=grace))


def due_candidates(sql: Sql, table: str, cutoff: str, checked_before: str, limit: int) -> list[str]:
    """Unfinished verifications expected by before ``cutoff`` and not asked about since
    ``checked_before``, the longest overdue first."""
    with sql.transaction(commit=False) as c:
        rows = c.execute(
            f"SELECT scan_ref FROM {table} WHERE final = ? AND status < ?"
            " AND (client_id IS NULL OR client_id < ?) ORDER BY status LIMIT ?",
            (DUE_ROW, cutoff, checked_before, limit),
        ).fetchall()
    return [r["scan_ref"][len(DUE) :] for r in rows]


def overdue_count(sql: Sql, table: str, cutoff: str) -> int:
    with sql.transaction(commit=False) as c:
        row = c.execute(
            f"SELECT COUNT(*) AS n FROM {table} WHERE final = ? AND status < ?", (DUE_ROW, cutoff)
        ).fetchone()
    return int(row["n"])
