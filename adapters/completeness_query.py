"""The rows a completeness statement is made of: the verifications registered in a
window (their deadline rows hold when they were registered), and the verifications
heard of without any registration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapters.sql import Sql
from adapters.status_query import SERVED, Serving
from adapters.subject_rows import DUE, DUE_ROW, VERIFICATION_ROWS
from adapters.views import decode_json

PAGE = 2000


def registered_between(sql: Sql, table: str, since: str, until: str) -> list[str]:
    """scanRefs of verifications registered at ``since`` or later and before ``until``."""
    found: list[str] = []
    after = ""
    while True:
        with sql.transaction(commit=False) as c:
            rows = c.execute(
                f"SELECT scan_ref, document FROM {table} WHERE final = ? AND scan_ref > ?"
                " ORDER BY scan_ref LIMIT ?",
                (DUE_ROW, after, PAGE),
            ).fetchall()
        for row in rows:
            at = decode_json(row["document"]).get("registeredAt")
            if at is not None and since <= at < until:
                found.append(row["scan_ref"][len(DUE) :])
        if len(rows) < PAGE:
            return found
        after = rows[-1]["scan_ref"]


def documents(sql: Sql, table: str, serving: Serving, scan_refs: list[str]) -> list[dict[str, Any]]:
    """The served status documents of ``scan_refs`` (those the view has)."""
    out: list[dict[str, Any]] = []
    for condition, params in sql.among("d.scan_ref", scan_refs):
        with sql.transaction(commit=False) as c:
            rows = c.execute(
                SERVED.format(table=table) + f" WHERE {condition} AND d.{VERIFICATION_ROWS}",
                params,
            ).fetchall()
        out.extend(serving.document(row["document"], row["link"]) for row in rows)
    return out


def unregistered(sql: Sql, table: str) -> Iterator[dict[str, Any]]:
    """Status documents of verifications with events but no registration."""
    with sql.transaction(commit=False) as c:
        rows = c.execute(
            f"SELECT d.document AS document FROM {table} AS d"
            f" LEFT JOIN {table} AS o ON o.scan_ref = '{DUE}' || d.scan_ref"
            f" WHERE d.{VERIFICATION_ROWS} AND o.scan_ref IS NULL"
        ).fetchall()
    for row in rows:
        yield decode_json(row["document"])


def verification_documents(sql: Sql, table: str, serving: Serving) -> Iterator[dict[str, Any]]:
    """Every verification's served status document, by scanRef, a page at a time."""
    after = ""
    while True:
        with sql.transaction(commit=False) as c:
            rows = c.execute(
                SERVED.format(table=table)
                + f" WHERE d.{VERIFICATION_ROWS} AND d.scan_ref > ? ORDER BY d.scan_ref LIMIT ?",
                (after, PAGE),
            ).fetchall()
        found = [serving.document(row["document"], row["link"]) for row in rows]
        yield from found
        if len(rows) < PAGE:
            return
        after = found[-1]["scanRef"]
