"""A realistic run of deliveries across four verifications, and the ways someone with write
access to the database edits the event table: shared by the tamper, CLI and auditor tests."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from adapters.data_keys import Sealing, key_id_of, open_sealed
from adapters.idenfy import decode_report
from adapters.persistence import PostgresLocation, SQLiteLocation, parse_database_url
from adapters.signing import fingerprint
from app.service.audit import SavedDigest, VerifyReport, verify_ledger
from app.service.ledger import Ledger
from domain.audit import ChainProblem
from domain.chain import event_hash
from domain.reports import Delivery, Kind, Receipt, Registration
from domain.verification import Verification
from tests.support.idenfy import encode, result_body
from tests.support.settings import API_TOKENS, SIGNING_KEYS

MANUAL = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
REATTEMPT = "9a41d0c2-5a7d-11ef-9c2a-0242ac120002"
LEGACY = "c7e5a1b4-5a7d-11ef-9c2a-0242ac120002"
CANCELLED = "e1d2c3b4-5a7d-11ef-9c2a-0242ac120002"
FINISH_TIME = 1718787742
FIRST_DELIVERY_AT = datetime(2024, 6, 19, 8, 40, tzinfo=UTC)
SIGNING_KEY_ID = f"#1:{fingerprint(SIGNING_KEYS[0])}"
AUDITOR = {"Authorization": f"Bearer {API_TOKENS['auditor']}"}

# A realistic run of deliveries, interleaved across four verifications.


@dataclass(frozen=True)
class Step:
    """One thing the ledger is told: a signed delivery of ``kind`` at ``at``, or a registration."""

    scan_ref: str
    kind: Kind | None
    body: bytes = b""
    at: datetime = FIRST_DELIVERY_AT
    registration: Registration | None = None


def result(
    scan_ref: str, kind: Kind, hour: int, *, final: bool, overall: str, finish_time: int,
    client_id: str = "user-7f3c2a",
) -> Step:  # fmt: skip
    body = result_body(
        scan_ref, final=final, overall=overall, finish_time=finish_time, client_id=client_id
    )
    return Step(scan_ref, kind, encode(body), FIRST_DELIVERY_AT + timedelta(hours=hour))


def registered(scan_ref: str, client_id: str = "user-7f3c2a") -> Step:
    registration = Registration(scan_ref=scan_ref, client_id=client_id, external_ref="onb-1")
    return Step(scan_ref, None, registration=registration)


EXPIRATION_NOTICE = encode(
    {"scanRef": MANUAL, "clientId": "user-7f3c2a", "expirationThreshold": "30",
     "documentExpiration": "2031-05-01"}
)  # fmt: skip

STORY: tuple[Step, ...] = (
    registered(MANUAL),
    result(REATTEMPT, Kind.AUTO_FINISHED, 1, final=True, overall="DENIED", finish_time=FINISH_TIME),
    result(MANUAL, Kind.AUTO_FINISHED, 2, final=False, overall="SUSPECTED",
           finish_time=FINISH_TIME),
    registered(CANCELLED, "user-0b91"),
    result(LEGACY, Kind.IDENTIFICATION, 3, final=False, overall="SUSPECTED",
           finish_time=FINISH_TIME),
    result(REATTEMPT, Kind.AUTO_FINISHED, 4, final=True, overall="DENIED", finish_time=FINISH_TIME),
    result(MANUAL, Kind.MANUAL_FINISHED, 5, final=True, overall="APPROVED",
           finish_time=FINISH_TIME),
    result(LEGACY, Kind.IDENTIFICATION, 6, final=True, overall="APPROVED", finish_time=FINISH_TIME),
    result(CANCELLED, Kind.CANCELLED, 7, final=False, overall="APPROVED", finish_time=FINISH_TIME,
           client_id="user-0b91"),
    result(REATTEMPT, Kind.AUTO_FINISHED, 8, final=True, overall="APPROVED",
           finish_time=FINISH_TIME + 600),
    Step(MANUAL, Kind.DOCUMENT_EXPIRATION, EXPIRATION_NOTICE,
         FIRST_DELIVERY_AT + timedelta(hours=9)),
)  # fmt: skip
"""11 steps, one of them a redelivery: 10 events, MANUAL 4, the others 2 each."""
CHAIN_LENGTHS = {MANUAL: 4, REATTEMPT: 2, LEGACY: 2, CANCELLED: 2}


def delivery(step: Step, signing_key: str = SIGNING_KEY_ID) -> Delivery:
    assert step.kind is not None
    digest = hashlib.sha256(step.body).hexdigest()
    return Delivery(step.kind, step.at, step.body, digest, signing_key)


def record(ledger: Ledger, steps: tuple[Step, ...] = STORY) -> list[Receipt]:
    """Each step told to the ledger as the webhook and registration endpoints tell it."""
    receipts = []
    for step in steps:
        if step.registration is not None:
            receipts.append(ledger.register(step.registration, step.at))
        else:
            assert step.kind is not None
            receipts.append(ledger.record(delivery(step), decode_report(step.kind, step.body)))
    return receipts


def last_position(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


# The event table, edited as someone with database access would.


class EventTable:
    """The ledger's stored events, read and changed with plain SQL behind its back.

    SQLite keeps them in ``stored_events`` (the ledger position is the rowid);
    PostgreSQL in ``ledger_events`` of the URL's schema (``notification_id``).
    """

    def __init__(self, database_url: str):
        self.location = parse_database_url(database_url)
        self.postgres = isinstance(self.location, PostgresLocation)
        self.position = "notification_id" if self.postgres else "rowid"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor in one transaction, committed at the end."""
        if isinstance(self.location, PostgresLocation):
            with psycopg.connect(self.location.conninfo()) as pg, pg.cursor() as cursor:
                yield cursor
            return
        assert isinstance(self.location, SQLiteLocation)
        with closing(sqlite3.connect(self.location.path, timeout=10)) as lite, lite:
            yield lite.cursor()

    def _execute(self, text: str, *params: Any) -> list[Any]:
        """Run ``text``, with ``{table}`` and ``{position}`` and ``?`` placeholders."""
        with self._cursor() as cursor:
            if isinstance(self.location, PostgresLocation):
                table = sql.Identifier(self.location.schema, "ledger_events")
                statement = sql.SQL(text.replace("?", "%s")).format(
                    table=table, position=sql.Identifier(self.position)
                )
                cursor.execute(statement, params)
            else:
                cursor.execute(text.format(table="stored_events", position="rowid"), params)
            return list(cursor.fetchall()) if cursor.description else []

    def _id(self, scan_ref: str) -> UUID | str:
        originator_id = Verification.create_id(scan_ref)
        return originator_id if self.postgres else originator_id.hex

    def count(self) -> int:
        [(count,)] = self._execute("SELECT COUNT(*) FROM {table}")
        return int(count)

    def topic(self, scan_ref: str, sequence: int) -> str:
        [(topic,)] = self._execute(
            "SELECT topic FROM {table} WHERE originator_id = ? AND originator_version = ?",
            self._id(scan_ref), sequence,
        )  # fmt: skip
        return str(topic)

    def raw_state(self, scan_ref: str, sequence: int) -> bytes:
        [(state,)] = self._execute(
            "SELECT state FROM {table} WHERE originator_id = ? AND originator_version = ?",
            self._id(scan_ref), sequence,
        )  # fmt: skip
        return bytes(state)

    def state(self, scan_ref: str, sequence: int) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.raw_state(scan_ref, sequence))
        return loaded

    def write(self, scan_ref: str, sequence: int, state: dict[str, Any] | bytes) -> None:
        raw = state if isinstance(state, bytes) else json.dumps(state).encode()
        self._execute(
            "UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            raw, self._id(scan_ref), sequence,
        )  # fmt: skip

    def retopic(self, scan_ref: str, sequence: int, topic: str) -> None:
        self._execute(
            "UPDATE {table} SET topic = ? WHERE originator_id = ? AND originator_version = ?",
            topic, self._id(scan_ref), sequence,
        )  # fmt: skip

    def delete(self, scan_ref: str, sequence: int | None = None) -> None:
        if sequence is None:
            self._execute("DELETE FROM {table} WHERE originator_id = ?", self._id(scan_ref))
            return
        self._execute(
            "DELETE FROM {table} WHERE originator_id = ? AND originator_version = ?",
            self._id(scan_ref), sequence,
        )  # fmt: skip

    def insert(self, scan_ref: str, sequence: int, topic: str, state: bytes) -> None:
        """A new row at the end of the ledger."""
        self._execute(
            "INSERT INTO {table} (originator_id, originator_version, topic, state)"
            " VALUES (?, ?, ?, ?)",
            self._id(scan_ref), sequence, topic, state,
        )  # fmt: skip

    def move(self, scan_ref: str, sequence: int, to_scan_ref: str, to_sequence: int) -> None:
        """File an event under another verification and sequence, its state untouched."""
        self._execute(
            "UPDATE {table} SET originator_id = ?, originator_version = ?"
            " WHERE originator_id = ? AND originator_version = ?",
            self._id(to_scan_ref), to_sequence, self._id(scan_ref), sequence,
        )  # fmt: skip

    def swap_sequences(self, scan_ref: str, first: int, second: int) -> None:
        """Swap the sequence numbers of two events of one verification."""
        self.move(scan_ref, first, scan_ref, -1)
        self.move(scan_ref, second, scan_ref, first)
        self.move(scan_ref, -1, scan_ref, second)

    def swap_positions(self, scan_ref: str, first: int, second: int) -> None:
        """Swap the ledger positions of two events of one verification."""
        where = "WHERE originator_id = ? AND originator_version = ?"
        select = f"SELECT {{position}} FROM {{table}} {where}"
        update = f"UPDATE {{table}} SET {{position}} = ? {where}"
        [(a,)] = self._execute(select, self._id(scan_ref), first)
        [(b,)] = self._execute(select, self._id(scan_ref), second)
        for position, sequence in ((-1, first), (a, second), (b, first)):
            self._execute(update, position, self._id(scan_ref), sequence)

    def replace_chain(self, ledger: Ledger, events: list[Verification.Event]) -> None:
        """Overwrite a verification's rows in place with ``events`` (same ids and sequences)."""
        for event in events:
            stored = ledger.mapper.to_stored_event(event)
            self.retopic(event.scan_ref, event.originator_version, stored.topic)
            self.write(event.scan_ref, event.originator_version, stored.state)


def forged_history(
    story: tuple[Step, ...], scan_ref: str, decision: str
) -> list[Verification.Event]:
    """A new history of ``scan_ref`` from ``story`` with another decision, consistently hashed."""
    forged = Verification.start(scan_ref, FIRST_DELIVERY_AT)
    for step in story:
        if step.scan_ref != scan_ref:
            continue
        if step.registration is not None:
            forged.register(step.registration)
            continue
        body = step.body.replace(b'"APPROVED"', f'"{decision}"'.encode())
        assert step.kind is not None
        forged.receive(delivery(Step(scan_ref, step.kind, body, step.at)),
                       decode_report(step.kind, body))  # fmt: skip
    events = [event for event in forged.collect_events() if isinstance(event, Verification.Event)]
    for before, after in zip([None, *events], events, strict=False):
        assert after.prev_hash == (before.hash if before else None)
        assert after.hash == event_hash(type(after).__qualname__, vars(after))
    return events


# What the tests look for.


def save_digest(ledger: Ledger, folder: Path) -> SavedDigest:
    """``ledger verify --save-digest``: written to a file outside the database, read back."""
    report = verify_ledger(ledger, datetime.now(UTC))
    assert report.intact, report.problems
    path = folder / "digest.json"
    path.write_text(json.dumps(report.digest.to_json()))
    return SavedDigest.load(path)


def places(report: VerifyReport) -> set[tuple[str, int]]:
    return {(problem.scan_ref, problem.sequence) for problem in report.problems}


def problems_at(report: VerifyReport, scan_ref: str, sequence: int) -> list[ChainProblem]:
    return [p for p in report.problems if (p.scan_ref, p.sequence) == (scan_ref, sequence)]


@dataclass(frozen=True)
class Tampering:
    """An edit of the event table, and where and how ``ledger verify`` must report it."""

    name: str
    edit: Callable[[EventTable, Ledger], None]
    scan_ref: str
    sequence: int
    reason: str

    def __str__(self) -> str:
        return self.name


def change_a_decision(table: EventTable, ledger: Ledger) -> None:
    state = table.state(MANUAL, 3)
    assert state["overall"] == "APPROVED"
    table.write(MANUAL, 3, {**state, "overall": "DENIED"})


def change_the_event_class(table: EventTable, ledger: Ledger) -> None:
    topic = table.topic(MANUAL, 3)
    table.retopic(MANUAL, 3, topic.replace("ManualReviewFinished", "AutoReviewFinished"))


def delete_a_middle_event(table: EventTable, ledger: Ledger) -> None:
    table.delete(MANUAL, 2)


def insert_a_forged_copy(table: EventTable, ledger: Ledger) -> None:
    table.insert(MANUAL, 5, table.topic(MANUAL, 3), table.raw_state(MANUAL, 3))


def swap_two_sequences(table: EventTable, ledger: Ledger) -> None:
    table.swap_sequences(MANUAL, 2, 3)


def swap_two_positions(table: EventTable, ledger: Ledger) -> None:
    table.swap_positions(MANUAL, 2, 3)


def move_to_another_verification(table: EventTable, ledger: Ledger) -> None:
    table.move(MANUAL, 4, CANCELLED, 3)


def corrupt_the_json(table: EventTable, ledger: Ledger) -> None:
    table.write(MANUAL, 3, table.raw_state(MANUAL, 3)[:-40])


def change_the_payload(table: EventTable, ledger: Ledger) -> None:
    """Someone with the database and its data keys opens a payload, changes it and seals
    it again under the same key."""
    state = table.state(MANUAL, 3)
    sealed = base64.b64decode(state["payload"]["_data_"])
    key = ledger.keys.keys_by_id([key_id_of(sealed)])[key_id_of(sealed)]
    assert key is not None
    original = open_sealed(key, sealed)
    changed = original.replace(b'"APPROVED"', b'"DENIED"')
    assert changed != original
    resealed = Sealing(keys={"s": (key_id_of(sealed), key)}).seal("s", changed)
    state["payload"]["_data_"] = base64.b64encode(resealed).decode()
    table.write(MANUAL, 3, state)


INSIDE_A_CHAIN = [
    Tampering("changed-decision", change_a_decision, MANUAL, 3, "do not match the event's hash"),
    Tampering("changed-class", change_the_event_class, MANUAL, 3, "do not match the event's hash"),
    Tampering("deleted-middle", delete_a_middle_event, MANUAL, 3, "expected sequence 2"),
    Tampering("inserted-copy", insert_a_forged_copy, MANUAL, 5, "prevHash does not match"),
    Tampering("swapped-sequences", swap_two_sequences, MANUAL, 3, "expected sequence 2"),
    Tampering("swapped-positions", swap_two_positions, MANUAL, 3, "expected sequence 2"),
    Tampering("moved", move_to_another_verification, MANUAL, 3, "another verification"),
    Tampering("undecodable", corrupt_the_json, MANUAL, 3, "no longer decodes"),
    Tampering("changed-payload", change_the_payload, MANUAL, 3, "payload does not match"),
]
