"""Every verification event in ledger order, as NDJSON or CSV, in constant memory.

Exports carry the recorded fields of each event and its chain hashes, not the
payload bytes (which hold personal data); ``payloadSha256`` ties each row to them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from adapters.fast_facts import kind_and_time, stored_state_of
from adapters.sql import Sql
from domain.verification import Verification

BATCH = 5_000
COLUMNS = (
    "position", "scanRef", "sequence", "event", "kind", "receivedAt", "recordedAt", "final",
    "overall", "autoDocument", "autoFace", "manualDocument", "manualFace", "fraudTags",
    "mismatchTags", "finishTime", "clientId", "externalRef", "payloadSha256", "signingKey",
    "headerKind", "prevHash", "hash",
)  # fmt: skip
FORMATS = ("ndjson", "csv")
StoredRow = tuple[int, int, str, bytes, Any]


@dataclass(frozen=True)
class Window:
    """Which events to export: ledger positions or received times, both bounds inclusive."""

    since_position: int | None = None
    until_position: int | None = None
    since_time: datetime | None = None
    until_time: datetime | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window:
        """``since``/``until`` are each a ledger position (digits) or an ISO 8601 time."""
        values: dict[str, Any] = {}
        for name, raw in (("since", since), ("until", until)):
            if raw is None or raw.strip() == "":
                continue
            if raw.strip().isdigit():
                values[f"{name}_position"] = int(raw)
                continue
            try:
                moment = datetime.fromisoformat(raw.strip())
            except ValueError:
                raise ValueError(f"{name} is neither a position nor an ISO 8601 time") from None
            if moment.tzinfo is None:
                raise ValueError(f"{name} needs a time zone, e.g. 2026-01-31T00:00:00Z")
            values[f"{name}_time"] = moment
        return cls(**values)

    def admits(self, received_at: str) -> bool:
        if self.since_time is None and self.until_time is None:
            return True
        moment = datetime.fromisoformat(received_at)
        if self.since_time is not None and moment < self.since_time:
            return False
        return self.until_time is None or moment <= self.until_time


def records(
    recorder: ApplicationRecorder, mapper: Mapper[Any], window: Window
) -> Iterator[list[dict[str, Any]]]:
    """Batches of export records, in ledger order.

    The next batch is read on a thread of its own while this one is decoded: the
    database's time and the decoding's overlap (drivers release the GIL while they
    wait), and at most two batches are in memory.
    """
    reading = ThreadPoolExecutor(1, thread_name_prefix="export-read")
    try:
        position = (window.since_position or 1) - 1
        ahead = reading.submit(stored_rows, recorder, position, window.until_position, BATCH)
        while True:
            rows = ahead.result()
            if len(rows) == BATCH:
                after = int(rows[-1][0])
                ahead = reading.submit(stored_rows, recorder, after, window.until_position, BATCH)
            batch = []
            for row in rows:
                record = _record(mapper, row)
                if window.admits(record["receivedAt"]):
                    batch.append(record)
            if batch:
                yield batch
            if len(rows) < BATCH:
                return
    finally:
        reading.shutdown(wait=True, cancel_futures=True)


def stored_rows(
    recorder: ApplicationRecorder, after: int, until: int | None, limit: int
) -> list[StoredRow]:
    """(position, sequence, topic, state, originator id) of the events after ``after``,
    up to ``until``.

    Read straight from the library's events table, as ``select_notifications``
    does, without making a ``Notification`` and a ``UUID`` of every row.
    """
    datastore: Any = getattr(recorder, "datastore", None)
    table_name: Any = getattr(recorder, "events_table_name", None)
    if datastore is None or table_name is None:
        notifications = recorder.select_notifications(
            start=after, limit=limit, stop=until, inclusive_of_start=False
        )
        return [
            (n.id, n.originator_version, n.topic, n.state, n.originator_id) for n in notifications
        ]
    sql = Sql(datastore)
    position = "notification_id" if sql.postgres else "rowid"
    bound = f" AND {position} <= ?" if until is not None else ""
    originator = "CAST(originator_id AS TEXT)" if sql.postgres else "originator_id"
    params = (after, until, limit) if until is not None else (after, limit)
    with sql.reading(by_position=True) as c:
        found = c.execute(
            f"SELECT {position}, originator_version, topic, state, {originator}"
            f" FROM {sql.table(table_name)} WHERE {position} > ?{bound}"
            f" ORDER BY {position} LIMIT ?",
            params,
            binary=True,
        ).fetchall()
    return [(row[0], row[1], row[2], bytes(row[3]), row[4]) for row in found]


class UnreadableEventError(ValueError):
    """A stored event that no longer decodes; ``ledger verify`` names it as tampering."""


def _record(mapper: Mapper[Any], row: StoredRow) -> dict[str, Any]:
    try:
        return _decoded(mapper, *row)
    except Exception as error:
        raise UnreadableEventError(
            f"the event at position {row[0]} no longer decodes"
            f" ({type(error).__name__}); run ledger verify"
        ) from None


def _decoded(
    mapper: Mapper[Any], position: int, sequence: int, topic: str, state: bytes, originator: Any
) -> dict[str, Any]:
    stored = stored_state_of(mapper, topic, state)
    if stored is not None:
        fields = msgspec.structs.asdict(stored)
        kind, received_at = kind_and_time(topic, stored)
        recorded_at = stored.timestamp.data
    else:
        notification = Notification(
            id=position,
            originator_id=UUID(str(originator)),
            originator_version=sequence,
            topic=topic,
            state=state,
        )
        event = mapper.to_domain_event(notification)
        assert isinstance(event, Verification.Event)
        fields = dict(vars(event))
        kind = getattr(event, "kind", "registered")
        received_at = getattr(event, "received_at", event.timestamp).isoformat()
        recorded_at = event.timestamp.isoformat()
    return {
        "position": position,
        "scanRef": fields["scan_ref"],
        "sequence": sequence,
        "event": topic.rpartition(".")[2],
        "kind": kind,
        "receivedAt": received_at.replace("+00:00", "Z"),
        "recordedAt": recorded_at.replace("+00:00", "Z"),
        "final": fields.get("final"),
        "overall": fields.get("overall"),
        "autoDocument": fields.get("auto_document"),
        "autoFace": fields.get("auto_face"),
        "manualDocument": fields.get("manual_document"),
        "manualFace": fields.get("manual_face"),
        "fraudTags": list(fields.get("fraud_tags") or []),
        "mismatchTags": list(fields.get("mismatch_tags") or []),
        "finishTime": fields.get("finish_time"),
        "clientId": fields.get("client_id"),
        "externalRef": fields.get("external_ref"),
        "payloadSha256": fields.get("payload_sha256"),
        "signingKey": fields.get("signing_key"),
        "headerKind": fields.get("header_kind"),
        "prevHash": fields.get("prev_hash"),
        "hash": fields.get("hash"),
    }


_encoder = msgspec.json.Encoder()


def ndjson(batch: list[dict[str, Any]]) -> bytes:
    return b"".join(_encoder.encode(record) + b"\n" for record in batch)


def csv_header() -> bytes:
    return (",".join(COLUMNS) + "\r\n").encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = " ".join(value)
    text = str(value)
    # Spreadsheets run cells that start like a formula; these come from webhooks.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(batch: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for record in batch:
        writer.writerow([_cell(record[column]) for column in COLUMNS])
    return buffer.getvalue().encode()


def encoded(
    recorder: ApplicationRecorder, mapper: Mapper[Any], window: Window, fmt: str
) -> Iterator[bytes]:
    """The export as chunks of bytes in ``fmt`` (``ndjson`` or ``csv``)."""
    if fmt == "csv":
        yield csv_header()
    for batch in records(recorder, mapper, window):
        yield ndjson(batch) if fmt == "ndjson" else csv_rows(batch)
