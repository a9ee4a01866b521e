"""The three projections' tables and the queries the read API asks of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.fact_codec import decode_facts, decode_timeline, encode_timeline
from adapters.generations import META
from adapters.sql import Sql
from adapters.status_lists import status_documents
from adapters.status_query import (
    ACTIVE,
    DOCUMENT,
    PROJECTION,
    ActiveGeneration,
    Serving,
    document_params,
)
from adapters.subject_rows import (
    due_candidates,
    due_rows,
    link_rows,
    overdue_count,
    overdue_cutoff,
    subject_document,
    subject_documents,
    subject_values,
)
from adapters.views import Mode, SqlVerificationView, encode_json, reading
from domain.reports import is_verification
from projections.audit_timeline import AuditTimelineView
from projections.current_status import CurrentStatusView, StatusFilter
from projections.reattempts import ReattemptsView
from projections.verification_view import VerificationState

DOCUMENT_KEYS = ("clientId", "status", "final", "suspected", "lastPosition")
"""The status document's fields in ``current_status`` columns, in column order."""
REATTEMPT_KEYS = (
    "clientId",
    "status",
    "suspected",
    "attempts",
    "reattemptsAllowed",
    "reattemptsUsed",
    "reattemptsRemaining",
    "lastPosition",
)
"""The status document's fields in ``reattempts`` columns, in column order."""


def document_values(doc: Mapping[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    """The values of ``keys`` in ``doc`` as columns hold them (flags as 0 or 1)."""
    return tuple(int(doc[key]) if isinstance(doc[key], bool) else doc[key] for key in keys)


class SqlCurrentStatusView(SqlVerificationView, CurrentStatusView):
    """The status documents; a reader follows the active generation through the cache
    and reads a document with the query the fast readers run (``adapters.status_query``)."""

    projection = PROJECTION
    columns = (
        ("client_id", "TEXT"),
        ("status", "TEXT"),
        ("final", "INTEGER"),
        ("suspected", "INTEGER"),
        ("last_position", "BIGINT"),
        ("document", "TEXT"),
    )
    indexes = (
        ("last_position",),
        ("status", "last_position"),
        ("client_id", "last_position"),
        ("final", "last_position"),
        ("suspected", "last_position"),
    )

    def __init__(self, sql: Sql, *, mode: Mode = "read", generation: int | None = None):
        self.active = ActiveGeneration(sql.table)
        self.serving = Serving()
        super().__init__(sql, mode=mode, generation=generation)

    @property
    def looked_up_until(self) -> float:
        return self.active.until

    @looked_up_until.setter
    def looked_up_until(self, until: float) -> None:
        self.active.until = until

    def generation(self) -> int:
        """The generation to read, from the cache the status reads share."""
        if self.mode != "read":
            return self.bound
        if self.active.cached() is None:
            with self.sql.transaction(commit=False) as c:
                row = c.execute(
                    ACTIVE.format(meta=self.sql.table(META)), (self.projection,)
                ).fetchone()
            self.active.generation = self.bound
            self.bound = self.active.found(None if row is None else int(row["active"]))
        return self.bound

    @classmethod
    def values(cls, state: VerificationState) -> tuple[Any, ...]:
        doc = state.evaluation.document
        if not is_verification(state.scan_ref):
            return subject_values(state.scan_ref, doc)
        return (*document_values(doc, DOCUMENT_KEYS), encode_json(doc))

    @classmethod
    def rows(cls, state: VerificationState, blob: bytes) -> list[tuple[Any, ...]]:
        """The status row; for an AML monitoring the rows linking the verifications it
        names to it; for a registered verification its deadline row
        (``adapters.subject_rows``)."""
        document = state.evaluation.document
        return [
            cls.row(state, blob),
            *link_rows(state.scan_ref, document),
            *due_rows(state.scan_ref, document),
        ]

    @reading
    def status(self, scan_ref: str) -> dict[str, Any] | None:
        table = self.rows_table(self.generation())
        with self.sql.reading() as c:
            found = c.execute(DOCUMENT.format(table=table), document_params(scan_ref)).fetchone()
        return None if found is None else self.serving.document(found["document"], found["link"])

    @reading
    def subject(self, subject: str) -> dict[str, Any] | None:
        """An AML monitoring's or company's document (``adapters.subject_rows``)."""
        return subject_document(self.sql, self.rows_table(self.generation()), subject)

    @reading
    def subjects(
        self, prefix: str, status: str | None, limit: int, after: str | None
    ) -> list[dict[str, Any]]:
        """AML monitorings or companies, by id (``adapters.subject_rows``)."""
        table = self.rows_table(self.generation())
        return subject_documents(self.sql, table, prefix, status, limit, after)

    @reading
    def statuses(self, where: StatusFilter, limit: int, before: int | None) -> list[dict[str, Any]]:
        table = self.rows_table(self.generation())
        return status_documents(self.sql, table, self.serving, where, limit, before)

    @reading
    def overdue(self, checked_before: str, limit: int) -> list[str]:
        """Overdue verifications not asked about since ``checked_before``, longest first."""
        cutoff = overdue_cutoff(self.serving.clock(), self.serving.grace)
        table = self.rows_table(self.generation())
        return due_candidates(self.sql, table, cutoff, checked_before, limit)

    @reading
    def overdue_count(self) -> int:
        cutoff = overdue_cutoff(self.serving.clock(), self.serving.grace)
        return overdue_count(self.sql, self.rows_table(self.generation()), cutoff)


class SqlReattemptsView(SqlVerificationView, ReattemptsView):
    projection = "reattempts"
    columns = (
        ("client_id", "TEXT"),
        ("status", "TEXT"),
        ("suspected", "INTEGER"),
        ("attempts", "INTEGER"),
        ("allowed", "INTEGER"),
        ("used", "INTEGER"),
        ("remaining", "INTEGER"),
        ("last_position", "BIGINT"),
    )
    indexes = (("client_id", "last_position"),)

    @classmethod
    def values(cls, state: VerificationState) -> tuple[Any, ...]:
        doc = state.evaluation.document
        if not is_verification(state.scan_ref):  # no attempts: a row for its facts only
            return (None, doc["status"], 0, 0, 0, 0, 0, doc["lastPosition"])
        return document_values(doc, REATTEMPT_KEYS)

    @reading
    def attempts(self, scan_ref: str) -> dict[str, Any] | None:
        table = self.rows_table(self.generation())
        with self.sql.reading() as c:
            row = c.execute(
                f"SELECT attempts, allowed, used, remaining FROM {table} WHERE scan_ref = ?",
                (scan_ref,),
            ).fetchone()
        if row is None:
            return None
        return {
            "scanRef": scan_ref,
            "attempts": int(row["attempts"]),
            "reattemptsAllowed": int(row["allowed"]),
            "reattemptsUsed": int(row["used"]),
            "reattemptsRemaining": int(row["remaining"]),
        }

    @reading
    def client(self, client_id: str) -> dict[str, Any] | None:
        table = self.rows_table(self.generation())
        with self.sql.transaction(commit=False) as c:
            totals = c.execute(
                "SELECT COUNT(*) AS verifications,"
                " SUM(CASE WHEN status = 'APPROVED' THEN 1 ELSE 0 END) AS approved,"
                " SUM(CASE WHEN status = 'DENIED' THEN 1 ELSE 0 END) AS denied,"
                " SUM(suspected) AS suspected"
                f" FROM {table} WHERE client_id = ?",
                (client_id,),
            ).fetchone()
            latest = c.execute(
                f"SELECT scan_ref FROM {table} WHERE client_id = ?"
                " ORDER BY last_position DESC LIMIT 1",
                (client_id,),
            ).fetchone()
        if latest is None:
            return None
        return {
            "clientId": client_id,
            "verifications": int(totals["verifications"]),
            "approved": int(totals["approved"] or 0),
            "denied": int(totals["denied"] or 0),
            "suspected": int(totals["suspected"] or 0),
            "latestScanRef": latest["scan_ref"],
        }


class SqlAuditTimelineView(SqlVerificationView, AuditTimelineView):
    projection = "audit_timeline"
    columns = (
        ("entries", "TEXT"),
        ("first_position", "BIGINT"),
        ("head_sequence", "INTEGER"),
        ("head_hash", "TEXT"),
        ("last_received_at", "TEXT"),
    )
    indexes = (("first_position",), ("last_received_at",))

    @classmethod
    def values(cls, state: VerificationState) -> tuple[Any, ...]:
        facts = state.facts
        return (
            encode_timeline(state.evaluation.timeline, facts),
            min(f.position for f in facts),
            facts[-1].sequence,
            facts[-1].hash,
            max(f.received_at for f in facts),
        )

    @reading
    def heads(self, after: int, limit: int) -> list[tuple[int, str, int, str]]:
        """(first position, scanRef, head sequence, head hash) of chains, in ledger order."""
        table = self.rows_table(self.generation())
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT first_position, scan_ref, head_sequence, head_hash FROM {table}"
                " WHERE first_position > ? ORDER BY first_position LIMIT ?",
                (after, limit),
            ).fetchall()
        return [
            (int(r["first_position"]), r["scan_ref"], int(r["head_sequence"]), r["head_hash"])
            for r in rows
        ]

    @reading
    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The verifications that heard from iDenfy or the backend most recently."""
        table = self.rows_table(self.generation())
        with self.sql.reading() as c:
            rows = c.execute(
                f"SELECT scan_ref, entries, facts FROM {table}"
                " ORDER BY last_received_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [{"scanRef": r["scan_ref"], "entries": _entries(r)} for r in rows]

    @reading
    def timeline(self, scan_ref: str) -> list[dict[str, Any]] | None:
        table = self.rows_table(self.generation())
        with self.sql.reading() as c:
            found = c.execute(
                f"SELECT entries, facts FROM {table} WHERE scan_ref = ?", (scan_ref,)
            ).fetchone()
        return None if found is None else _entries(found)


def _entries(row: Any) -> list[dict[str, Any]]:
    return decode_timeline(row["entries"], decode_facts(bytes(row["facts"])))


VIEW_CLASSES: dict[str, type[SqlVerificationView]] = {
    view.projection: view
    for view in (SqlCurrentStatusView, SqlReattemptsView, SqlAuditTimelineView)
}
