"""``GET /verifications``: the query of status documents matching a filter, newest first,
with their AML links and, for ``overdue``, only unfinished verifications past their
deadline (their deadline rows, ``adapters.subject_rows``)."""

from __future__ import annotations

from typing import Any

from adapters.sql import Sql
from adapters.status_query import SERVED, Serving
from adapters.subject_rows import DUE, DUE_ROW, VERIFICATION_ROWS, overdue_cutoff
from projections.current_status import StatusFilter

DECISION_PAGE = 500


def status_documents(
    sql: Sql, table: str, serving: Serving, where: StatusFilter, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Documents matching ``where``, newest first; a decision is the policy's at read time,
    so that filter reads pages until it has ``limit`` (or none are left)."""
    if where.decision is None:
        return _page(sql, table, serving, where, limit, before)
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        page = _page(sql, table, serving, where, DECISION_PAGE, before)
        found.extend(doc for doc in page if doc["decision"] == where.decision)
        if len(page) < DECISION_PAGE:
            break
        before = page[-1]["lastPosition"]
    return found[:limit]


def _page(
    sql: Sql, table: str, serving: Serving, where: StatusFilter, limit: int, before: int | None
) -> list[dict[str, Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("status", where.status),
        ("final", None if where.final is None else int(where.final)),
        ("client_id", where.client_id),
        ("suspected", None if where.suspected is None else int(where.suspected)),
        ("last_position", before),
    ):
        if value is not None:
            conditions.append(f"d.{column} {'<' if column == 'last_position' else '='} ?")
            params.append(value)
    if where.final is None:
        conditions.append(f"d.{VERIFICATION_ROWS}")
    due = ""
    if where.overdue:
        due = f" JOIN {table} AS o ON o.scan_ref = '{DUE}' || d.scan_ref"
        conditions.append("o.final = ? AND o.status < ?")
        params.extend([DUE_ROW, overdue_cutoff(serving.clock(), serving.grace)])
    with sql.transaction(commit=False) as c:
        rows = c.execute(
            SERVED.format(table=table)
            + due
            + f" WHERE {' AND '.join(conditions)} ORDER BY d.last_position DESC LIMIT ?",
            [*params, limit],
        ).fetchall()
    return [serving.document(row["document"], row["link"]) for row in rows]
