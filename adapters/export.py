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

import msgspec
from eventsourcing.persistence import ApplicationRecorder, Mapper

from adapters.bulk_load import EventRow, notification_of, select_rows_after
from adapters.fast_facts import kind_and_time, stored_state_of
from adapters.sql import MAX_POSITION
from domain.verification import Verification
from projections.facts import fact_of

# Events read at a time. Two batches are in memory at once; 2,000 exported as fast as
# 5,000 did and kept the service's peak a third lower (bench/README.md).
BATCH = 2_000
COLUMNS = (
    "position", "scanRef", "sequence", "event", "kind", "receivedAt", "recordedAt", "final",
    "overall", "autoDocument", "autoFace", "manualDocument", "manualFace", "fraudTags",
    "mismatchTags", "finishTime", "clientId", "externalRef", "payloadSha256", "signingKey",
    "headerKind", "prevHash", "hash",
)  # fmt: skip
FORMATS = ("ndjson", "csv")


@dataclass(frozen=True)
class Window:
    """Which events to export: ledger positions or received times, both bounds inclusive."""

    since_position: int | None = None
    until_position: int | None = None
    since_time: datetime | None = None
    until_time: datetime | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window:
        """``since``/``until`` are each a ledger position (ASCII digits, at most
        ``MAX_POSITION``) or an ISO 8601 time; a ``ValueError`` says what is wrong."""
        values: dict[str, Any] = {}
        for name, given in (("since", since), ("until", until)):
            raw = (given or "").strip()
            if raw == "":
                continue
            if raw.isdigit():  # any script's digits: only ASCII ones in range will do
                digits = raw.lstrip("0")
                if (
                    not raw.isascii()
                    or len(digits) > len(str(MAX_POSITION))
                    or (int(raw) > MAX_POSITION)
                ):
                    raise ValueError(f"{name} must be a position from 0 to {MAX_POSITION}")
                values[f"{name}_position"] = int(raw)
                continue
            try:
                moment = datetime.fromisoformat(raw)
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
        ahead = reading.submit(select_rows_after, recorder, position, BATCH, window.until_position)
        while True:
            rows = ahead.result()
            if len(rows) == BATCH:
                after = rows[-1][0]
                ahead = reading.submit(
                    select_rows_after, recorder, after, BATCH, window.until_position
                )
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


class UnreadableEventError(ValueError):
    """A stored event that no longer decodes; ``ledger verify`` names it as tampering."""


def _record(mapper: Mapper[Any], row: EventRow) -> dict[str, Any]:
    try:
        return _decoded(mapper, row)
    except Exception as error:
        raise UnreadableEventError(
            f"the event at position {row[0]} no longer decodes"
            f" ({type(error).__name__}); run ledger verify"
        ) from None


def _decoded(mapper: Mapper[Any], row: EventRow) -> dict[str, Any]:
    position, sequence, topic, state, _ = row
    stored = stored_state_of(mapper, topic, state)
    if stored is not None:
        fields = msgspec.structs.asdict(stored)
        kind, received_at = kind_and_time(topic, stored)
        recorded_at = stored.timestamp.data
    else:
        event = mapper.to_domain_event(notification_of(row))
        assert isinstance(event, Verification.Event)
        fields = dict(vars(event))
        kind = fact_of(event, position).kind  # erased, policy-applied, ...
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
