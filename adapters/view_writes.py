"""Several views' rows and their tracking records, written in one transaction: the live
workers' batches and the replay's saves (ADR 12)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from eventsourcing.persistence import Tracking

from adapters.generations import META, TRACKING, GenerationChangedError, track_statement
from adapters.sql import Cursor
from projections.verification_view import VerificationState

if TYPE_CHECKING:
    from adapters.views import SqlVerificationView

Write: TypeAlias = tuple[
    "SqlVerificationView", Sequence[VerificationState], Sequence[bytes], Sequence[Sequence[Any]]
]
"""A view, the states to write to it, their facts encoded (``encode_facts``), and rows
made elsewhere (``SqlVerificationView.row``) to write with them."""


def write_together(c: Cursor, writes: Sequence[Write], tracking: Tracking) -> None:
    """Rows of several views and their tracking records, in the caller's transaction,
    with one look at all their generations and one at all their tracking records, and
    the tracking records written in one statement: a batch of the live workers is a
    handful of statements.

    A view that had already recorded ``tracking`` writes nothing, so an event is never
    counted twice. Raises ``GenerationChangedError`` when a replay has switched a live
    view to new tables.
    """
    views = [view for view, _, _, _ in writes]
    marks = ", ".join("?" * len(views))
    keys = [view.key() for view in views]
    # Both looks are sent before either is read (one round trip in a pipeline).
    generations = c.sent(
        f"SELECT name, active FROM {c.sql.table(META)} WHERE name IN ({marks})",
        [view.projection for view in views],
    )
    tracked_rows = c.sent(
        f"SELECT view, notification_id FROM {c.sql.table(TRACKING)}"
        f" WHERE view IN ({marks}) AND application_name = ?",
        [*keys, tracking.application_name],
    )
    active = {row["name"]: int(row["active"]) for row in generations()}
    for view in views:
        if view.mode == "live" and active.get(view.projection) != view.bound:
            raise GenerationChangedError(view.projection)
    done = {row["view"]: int(row["notification_id"]) for row in tracked_rows()}
    tracked: list[tuple[str, str, int]] = []
    for (view, states, blobs, rows), key in zip(writes, keys, strict=True):
        if key in done and tracking.notification_id <= done[key]:
            continue
        view._upsert(c, states, blobs, rows)
        tracked.append((key, tracking.application_name, tracking.notification_id))
    c.executemany(track_statement(c.sql), tracked)
