"""The writer process: deliveries committed by a child process, answered after the commit."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import uvloop
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment
from psycopg.pq import TransactionStatus

import app.service.writer
from adapters.durability import DurablePostgresFactory, FailFastPostgresApplicationRecorder
from adapters.persistence import PostgresLocation, eventsourcing_settings, parse_database_url
from adapters.signing import sign
from app.bootstrap import open_ledger
from app.config import load
from app.service.errors import StoreUnavailableError
from app.service.intake import Incoming, examine
from app.service.ledger import Ledger
from app.service.services import Services
from app.service.writer import RESTART_PAUSE_SECONDS, WriterProcess, WriterStoppedError
from domain.reports import Delivery, ExpirationNotice, Kind, Receipt, Report
from domain.verification import Verification
from tests.support.idenfy import encode, result_body
from tests.support.process import clean_environment, free_port
from tests.support.settings import SIGNING_KEYS, environment
from tests.support.topology import postgres_location

pytestmark = pytest.mark.process

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
Write = tuple[Delivery, Report]
SCENARIO_SECONDS = 120.0
SCAN_REF = "writer-0-5a7d-11ef-9c2a-0242ac120002"
SCAN_REFS = tuple(f"writer-{n}-5a7d-11ef-9c2a-0242ac120002" for n in range(1, 5))
MANY = 200


def run(scenario: Coroutine[Any, Any, T], loop_factory: LoopFactory | None = None) -> T:
    """Run ``scenario`` on an event loop of its own; a hang fails the test."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(asyncio.wait_for(scenario, SCENARIO_SECONDS))


def writer_environment(database_url: str) -> dict[str, str]:
    return clean_environment(environment(database_url))


@asynccontextmanager
async def started(environ: dict[str, str]) -> AsyncIterator[WriterProcess]:
    writer = WriterProcess(environ)
    try:
        await writer.start()
        yield writer
    finally:
        await writer.close()


def examined(services: Services, raw: bytes, kind: Kind = Kind.AUTO_FINISHED) -> Write:
    """The delivery and report the webhook endpoint makes of ``raw``, signed with the first key."""
    incoming = Incoming(
        body=raw,
        signature=sign(SIGNING_KEYS[0], raw),
        path_kind=kind,
        event_type=None,
        received_at=datetime.now(UTC),
    )
    found = examine(services, incoming)
    assert found.delivery is not None, found.cause
    assert found.report is not None, found.cause
    return found.delivery, found.report


def result(services: Services, scan_ref: str = SCAN_REF, n: int = 0) -> Write:
    return examined(services, encode(result_body(scan_ref, finish_time=1718787742 + n)))


def stored(ledger: Ledger, scan_ref: str = SCAN_REF) -> list[Verification.Reported]:
    events = list(ledger.history(scan_ref))
    assert all(isinstance(event, Verification.Reported) for event in events)
    return [event for event in events if isinstance(event, Verification.Reported)]


def assert_committed(ledger: Ledger, delivery: Delivery, receipt: Receipt) -> None:
    """The receipt names the stored event that holds exactly this delivery."""
    events = stored(ledger, receipt.scan_ref)
    assert 1 <= receipt.sequence <= len(events), receipt
    event = events[receipt.sequence - 1]
    assert (event.kind, event.payload) == (delivery.kind.value, delivery.payload)
    assert event.payload_sha256 == delivery.payload_sha256
    assert event.signing_key == delivery.signing_key
    assert event.received_at == delivery.received_at
    assert event.header_kind == delivery.header_kind


def has_exited(process: subprocess.Popen[bytes], seconds: float = 10.0) -> bool:
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_delivery_recorded_through_the_writer_process_is_committed_before_its_receipt(
    services: Services, database_url: str
) -> None:
    delivery, report = result(services)

    async def scenario() -> tuple[Receipt, Receipt]:
        async with started(writer_environment(database_url)) as writer:
            assert writer.pid is not None
            assert writer.pid != os.getpid()
            first = await writer.record_async(delivery, report)
            again = await writer.record_async(delivery, report)
            return first, again

    first, again = run(scenario())
    assert (first.scan_ref, first.sequence, first.duplicate) == (SCAN_REF, 1, False)
    assert first.position is not None
    assert first.position >= 1
    assert services.ledger.recorder.max_notification_id() == first.position
    assert_committed(services.ledger, delivery, first)
    [event] = stored(services.ledger)
    assert isinstance(event, Verification.AutoReviewFinished)
    assert (event.overall, event.final) == ("APPROVED", True)
    assert (again.scan_ref, again.sequence, again.duplicate) == (SCAN_REF, 1, True)
    assert again.position is None


def test_many_different_deliveries_sent_at_once_are_each_recorded_once_in_contiguous_sequences(
    services: Services, database_url: str
) -> None:
    writes = [result(services, SCAN_REFS[n % len(SCAN_REFS)], n) for n in range(MANY)]

    async def scenario() -> tuple[list[Receipt], list[Receipt]]:
        async with started(writer_environment(database_url)) as writer:
            receipts = await asyncio.gather(*(writer.record_async(*write) for write in writes))
            repeats = await asyncio.gather(*(writer.record_async(*write) for write in writes))
            return list(receipts), list(repeats)

    receipts, repeats = run(scenario())
    assert not any(receipt.duplicate for receipt in receipts)
    positions = [receipt.position for receipt in receipts]
    assert None not in positions
    assert len(set(positions)) == MANY
    per_scan_ref = MANY // len(SCAN_REFS)
    for scan_ref in SCAN_REFS:
        sequences = sorted(r.sequence for r in receipts if r.scan_ref == scan_ref)
        assert sequences == list(range(1, per_scan_ref + 1)), scan_ref
        events = stored(services.ledger, scan_ref)
        assert [event.originator_version for event in events] == sequences
    for (delivery, report), receipt in zip(writes, receipts, strict=True):
        assert receipt.scan_ref == report.scan_ref
        assert_committed(services.ledger, delivery, receipt)
    assert all(repeat.duplicate for repeat in repeats)
    assert [(r.scan_ref, r.sequence) for r in repeats] == [
        (r.scan_ref, r.sequence) for r in receipts
    ]
    assert services.ledger.recorder.max_notification_id() == max(p or 0 for p in positions)


def test_an_expiration_notice_is_recorded_through_the_writer_process(
    services: Services, database_url: str
) -> None:
    body = {
        "scanRef": SCAN_REF,
        "clientId": "user-7f3c2a",
        "expirationThreshold": "30",
        "documentExpiration": "2031-05-01",
    }
    delivery, notice = examined(services, encode(body), Kind.DOCUMENT_EXPIRATION)
    assert isinstance(notice, ExpirationNotice)
    result_delivery, outcome = result(services)

    async def scenario() -> tuple[Receipt, Receipt]:
        async with started(writer_environment(database_url)) as writer:
            first = await writer.record_async(result_delivery, outcome)
            return first, await writer.record_async(delivery, notice)

    first, receipt = run(scenario())
    assert (first.sequence, receipt.sequence, receipt.duplicate) == (1, 2, False)
    assert_committed(services.ledger, delivery, receipt)
    event = stored(services.ledger)[1]
    assert isinstance(event, Verification.DocumentExpirationNoticed)
    assert (event.kind, event.client_id) == ("document-expiration", "user-7f3c2a")
    assert (event.threshold, event.document_expiration) == ("30", "2031-05-01")


def test_what_a_delivery_says_about_itself_reaches_the_store_unchanged(
    services: Services, database_url: str
) -> None:
    raw = encode(result_body(SCAN_REF, final=False, overall="SUSPECTED", notes="ü" * 10))
    incoming = Incoming(
        body=raw,
        signature=sign(SIGNING_KEYS[1], raw),
        path_kind=Kind.MANUAL_FINISHED,
        event_type="IDENTIFICATION_CANCELLED",
        received_at=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
    )
    found = examine(services, incoming)
    delivery, report = found.delivery, found.report
    assert delivery is not None
    assert report is not None
    assert delivery.header_kind == "IDENTIFICATION_CANCELLED"
    assert delivery.signing_key.startswith("#2:")

    async def scenario() -> Receipt:
        async with started(writer_environment(database_url)) as writer:
            return await writer.record_async(delivery, report)

    receipt = run(scenario())
    assert_committed(services.ledger, delivery, receipt)
    [event] = stored(services.ledger)
    assert isinstance(event, Verification.ManualReviewFinished)
    assert (event.final, event.overall, event.client_id) == (False, "SUSPECTED", "user-7f3c2a")
    assert event.received_at.timestamp() == incoming.received_at.timestamp()


def test_a_delivery_larger_than_the_sockets_buffers_is_recorded_whole(
    services: Services, database_url: str
) -> None:
    raw = encode(result_body(SCAN_REF, notes="".join(f"{n:08x}" for n in range(200_000))))
    assert len(raw) > 1_500_000
    write = examined(services, raw)
    small = result(services, SCAN_REF, 1)

    async def scenario() -> list[Receipt]:
        async with started(writer_environment(database_url)) as writer:
            return list(
                await asyncio.gather(writer.record_async(*write), writer.record_async(*small))
            )

    receipts = run(scenario())
    assert sorted(receipt.sequence for receipt in receipts) == [1, 2]
    assert_committed(services.ledger, write[0], receipts[0])
    assert_committed(services.ledger, small[0], receipts[1])


def test_a_delivery_its_verification_refuses_fails_with_the_cause_and_the_process_goes_on(
    services: Services, database_url: str
) -> None:
    delivery, outcome = result(services)
    notice_delivery, notice = examined(
        services,
        encode({"scanRef": SCAN_REF, "expirationThreshold": "30"}),
        Kind.DOCUMENT_EXPIRATION,
    )

    async def scenario() -> Receipt:
        async with started(writer_environment(database_url)) as writer:
            with pytest.raises(RuntimeError, match="KindMismatchError"):
                await writer.record_async(notice_delivery, outcome)
            with pytest.raises(RuntimeError, match="KindMismatchError"):
                await writer.record_async(delivery, notice)
            return await writer.record_async(delivery, outcome)

    receipt = run(scenario())
    assert (receipt.sequence, receipt.duplicate) == (1, False)
    assert len(stored(services.ledger)) == 1


def rename_events_table(services: Services, database_url: str, old: str, new: str) -> None:
    location = parse_database_url(database_url)
    if isinstance(location, PostgresLocation):
        schema = postgres_recorder(services.ledger).datastore.schema
        with psycopg.connect(location.conninfo(), autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{schema}"."{old}" RENAME TO "{new}"')
        return
    with closing(sqlite3.connect(location.path, isolation_level=None, timeout=10)) as conn:
        conn.execute(f'ALTER TABLE "{old}" RENAME TO "{new}"')


def test_a_store_failure_in_the_writer_process_is_store_unavailable_and_it_recovers(
    services: Services, database_url: str
) -> None:
    table = getattr(services.ledger.recorder, "events_table_name", None)
    assert isinstance(table, str)
    first, during, after = (result(services, scan_ref) for scan_ref in SCAN_REFS[:3])

    async def scenario() -> tuple[Receipt, Receipt]:
        async with started(writer_environment(database_url)) as writer:
            receipt = await writer.record_async(*first)
            rename_events_table(services, database_url, table, f"{table}_away")
            try:
                with pytest.raises(StoreUnavailableError):
                    await writer.record_async(*during)
            finally:
                rename_events_table(services, database_url, f"{table}_away", table)
            process = writer.process
            recovered = await writer.record_async(*after)
            assert writer.process is process
            return receipt, recovered

    receipt, recovered = run(scenario())
    assert_committed(services.ledger, first[0], receipt)
    assert_committed(services.ledger, after[0], recovered)
    assert stored(services.ledger, SCAN_REFS[1]) == []


def unanswered(writes: list[Write], outcomes: list[Receipt | BaseException]) -> list[Write]:
    return [
        w for w, outcome in zip(writes, outcomes, strict=True) if not isinstance(outcome, Receipt)
    ]


def test_deliveries_waiting_on_a_killed_writer_process_fail_and_a_new_process_takes_over(
    services: Services, database_url: str
) -> None:
    writes = [result(services, SCAN_REFS[n % len(SCAN_REFS)], n) for n in range(MANY)]
    later = result(services, SCAN_REF)

    async def scenario() -> tuple[list[Receipt | BaseException], Receipt, list[Receipt]]:
        async with started(writer_environment(database_url)) as writer:
            killed = writer.process
            assert killed is not None
            waiting = [asyncio.ensure_future(writer.record_async(*write)) for write in writes]
            await asyncio.sleep(0)  # every delivery is sent, none answered yet
            assert not any(task.done() for task in waiting)
            os.kill(killed.pid, signal.SIGKILL)
            outcomes = list(await asyncio.gather(*waiting, return_exceptions=True))
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
            receipt = await writer.record_async(*later)
            assert writer.pid is not None
            assert writer.pid != killed.pid
            assert killed.returncode == -signal.SIGKILL
            again = unanswered(writes, outcomes)
            retried = await asyncio.gather(*(writer.record_async(*write) for write in again))
            return outcomes, receipt, list(retried)

    outcomes, receipt, retried = run(scenario())
    errors = [outcome for outcome in outcomes if not isinstance(outcome, Receipt)]
    assert errors, "every delivery was answered before the kill: nothing was waiting"
    assert all(isinstance(error, StoreUnavailableError) for error in errors), errors
    for (delivery, _), outcome in zip(writes, outcomes, strict=True):
        if isinstance(outcome, Receipt):
            assert_committed(services.ledger, delivery, outcome)
    for (delivery, _), retry in zip(unanswered(writes, outcomes), retried, strict=True):
        assert_committed(services.ledger, delivery, retry)
    assert (receipt.scan_ref, receipt.sequence, receipt.duplicate) == (SCAN_REF, 1, False)
    for scan_ref in SCAN_REFS:
        events = stored(services.ledger, scan_ref)
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        kept = Counter(event.payload for event in events)
        assert set(kept.values()) == {1}, f"{scan_ref}: a delivery stored twice"
    everything = {e.payload for ref in SCAN_REFS for e in stored(services.ledger, ref)}
    assert everything == {delivery.payload for delivery, _ in writes}


def test_the_writer_process_records_and_recovers_on_uvloop_as_under_uvicorn(
    services: Services, database_url: str
) -> None:
    writes = [result(services, SCAN_REFS[n % len(SCAN_REFS)], n) for n in range(20)]
    later = result(services, SCAN_REF)

    async def scenario() -> tuple[list[Receipt], list[BaseException | Receipt], Receipt]:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        async with started(writer_environment(database_url)) as writer:
            receipts = await asyncio.gather(*(writer.record_async(*write) for write in writes))
            killed = writer.process
            assert killed is not None
            waiting = [asyncio.ensure_future(writer.record_async(*later)) for _ in range(3)]
            await asyncio.sleep(0)
            os.kill(killed.pid, signal.SIGKILL)
            outcomes = await asyncio.gather(*waiting, return_exceptions=True)
            await asyncio.sleep(RESTART_PAUSE_SECONDS)
            again = await writer.record_async(*later)
            assert writer.pid != killed.pid
            return list(receipts), list(outcomes), again

    receipts, outcomes, again = run(scenario(), uvloop.new_event_loop)
    for (delivery, _), receipt in zip(writes, receipts, strict=True):
        assert_committed(services.ledger, delivery, receipt)
    assert any(isinstance(outcome, StoreUnavailableError) for outcome in outcomes), outcomes
    assert all(isinstance(o, Receipt | StoreUnavailableError) for o in outcomes), outcomes
    assert_committed(services.ledger, later[0], again)
    assert len(stored(services.ledger)) == 1


def test_a_delivery_in_the_pause_after_a_crash_is_refused_without_starting_a_process(
    services: Services, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.service.writer, "RESTART_PAUSE_SECONDS", SCENARIO_SECONDS)
    write = result(services)

    async def scenario() -> None:
        async with started(writer_environment(database_url)) as writer:
            killed = writer.process
            assert killed is not None
            os.kill(killed.pid, signal.SIGKILL)
            await asyncio.to_thread(killed.wait, 10)
            await asyncio.sleep(0.2)  # the server's end sees the socket close
            with pytest.raises(StoreUnavailableError, match="restarting"):
                await writer.record_async(*write)
            assert writer.process is killed

    run(scenario())
    assert stored(services.ledger) == []


def test_a_closed_writer_process_has_exited_and_takes_no_more_deliveries(
    services: Services, database_url: str
) -> None:
    write = result(services)

    async def scenario() -> tuple[subprocess.Popen[bytes], Receipt]:
        writer = WriterProcess(writer_environment(database_url))
        await writer.start()
        process = writer.process
        assert process is not None
        receipt = await writer.record_async(*write)
        await writer.close()
        assert writer.pid is None
        await asyncio.sleep(RESTART_PAUSE_SECONDS)  # long enough to start another one
        with pytest.raises(StoreUnavailableError):
            await writer.record_async(*result(services, n=1))
        assert writer.pid is None
        await writer.close()  # a second close is harmless
        return process, receipt

    process, receipt = run(scenario())
    assert process.returncode == 0
    assert_committed(services.ledger, write[0], receipt)
    assert len(stored(services.ledger)) == 1


def test_a_closed_writer_process_cannot_be_started_again(
    services: Services, database_url: str
) -> None:
    async def scenario() -> None:
        writer = WriterProcess(writer_environment(database_url))
        await writer.start()
        await writer.close()
        with pytest.raises(WriterStoppedError, match="closed"):
            await writer.start()
        assert writer.pid is None

    run(scenario())


def test_a_writer_process_never_started_refuses_deliveries_once_closed(
    services: Services, database_url: str
) -> None:
    async def scenario() -> None:
        writer = WriterProcess(writer_environment(database_url))
        await writer.close()
        with pytest.raises(StoreUnavailableError):
            await writer.record_async(*result(services))
        assert writer.pid is None

    run(scenario())


def test_deliveries_in_flight_when_the_writer_is_closed_are_all_committed_before_it_exits(
    services: Services, database_url: str
) -> None:
    writes = [result(services, SCAN_REFS[n % len(SCAN_REFS)], n) for n in range(MANY)]

    async def scenario() -> tuple[list[Receipt | BaseException], subprocess.Popen[bytes]]:
        writer = WriterProcess(writer_environment(database_url))
        await writer.start()
        process = writer.process
        assert process is not None
        waiting = [asyncio.ensure_future(writer.record_async(*write)) for write in writes]
        await asyncio.sleep(0)  # every delivery is sent, none answered yet
        await writer.close()
        return list(await asyncio.gather(*waiting, return_exceptions=True)), process

    outcomes, process = run(scenario())
    assert process.returncode == 0
    # Closing waits for the answers: every delivery in flight gets its receipt.
    for (delivery, _), outcome in zip(writes, outcomes, strict=True):
        assert isinstance(outcome, Receipt), outcome
        assert_committed(services.ledger, delivery, outcome)
    # The writer process commits everything it was sent before it exits.
    for scan_ref in SCAN_REFS:
        events = stored(services.ledger, scan_ref)
        assert [e.originator_version for e in events] == list(range(1, MANY // len(SCAN_REFS) + 1))
    everything = [e.payload for ref in SCAN_REFS for e in stored(services.ledger, ref)]
    assert sorted(everything) == sorted(delivery.payload for delivery, _ in writes)


def unopenable_sqlite_url(tmp_path: Path) -> str:
    """An SQLite file whose folder cannot be made: a plain file stands in its way."""
    (tmp_path / "not-a-folder").write_text("")
    return f"sqlite:///{tmp_path / 'not-a-folder' / 'ledger.sqlite3'}"


def closed_postgres_url(tmp_path: Path) -> str:
    """A PostgreSQL server that is not there: nobody listens on the port."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"


@pytest.mark.parametrize(
    ("make_url", "reason"),
    [
        (unopenable_sqlite_url, "not-a-folder"),
        (closed_postgres_url, "connection"),
    ],
    ids=["sqlite-path-under-a-file", "postgres-port-closed"],
)
def test_a_writer_process_that_cannot_open_its_ledger_fails_to_start_with_the_reason(
    tmp_path: Path, make_url: Any, reason: str
) -> None:
    url: str = make_url(tmp_path)

    async def scenario() -> tuple[str, subprocess.Popen[bytes] | None]:
        writer = WriterProcess(writer_environment(url))
        try:
            with pytest.raises(WriterStoppedError) as raised:
                await writer.start()
            process = writer.process
            # Asked again, it tries again: a failed start leaves no writer behind.
            with pytest.raises(WriterStoppedError, match="cannot open the ledger"):
                await writer.start()
            assert writer.process is not process
        finally:
            await writer.close()
        return str(raised.value), process

    message, process = run(scenario())
    assert "cannot open the ledger" in message
    assert reason in message
    assert process is not None
    assert process.returncode is not None


def test_the_writer_process_ignores_sigterm_and_sigint_and_stops_when_the_server_end_closes(
    services: Services, database_url: str
) -> None:
    write = result(services)

    async def scenario() -> tuple[subprocess.Popen[bytes], Receipt]:
        async with started(writer_environment(database_url)) as writer:
            process = writer.process
            assert process is not None
            for number in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
                os.kill(process.pid, number)
            await asyncio.sleep(1.0)
            assert process.poll() is None, f"the writer process exited: {process.returncode}"
            receipt = await writer.record_async(*write)
            assert writer.process is process
        return process, receipt

    process, receipt = run(scenario())
    assert has_exited(process, 0)
    assert process.returncode == 0
    assert_committed(services.ledger, write[0], receipt)


@pytest.fixture
def postgres_ledger(postgres_url: str) -> Iterator[Ledger]:
    ledger = open_ledger(load(environment(postgres_url)))
    yield ledger
    ledger.close()


def postgres_recorder(ledger: Ledger) -> FailFastPostgresApplicationRecorder:
    recorder = ledger.recorder
    assert isinstance(recorder, FailFastPostgresApplicationRecorder)
    return recorder


def events_table(ledger: Ledger) -> str:
    recorder = postgres_recorder(ledger)
    return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'


def column_compression(conn: psycopg.Connection[Any], table: str, column: str) -> str:
    """The compression chosen for ``column`` ('l' lz4, 'p' pglz, '' the server's default)."""
    [(compression,)] = conn.execute(
        "SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        (table, column),
    ).fetchall()
    return str(compression)


@pytest.mark.postgres
def test_a_fresh_schemas_events_table_compresses_states_with_lz4(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    table = events_table(postgres_ledger)
    with psycopg.connect(postgres_location(postgres_url).conninfo(), autocommit=True) as conn:
        assert column_compression(conn, table, "state") == "l"
        assert column_compression(conn, table, "topic") == ""


@pytest.mark.postgres
def test_a_reopened_ledger_keeps_its_events_table_and_lz4_states(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    recorder = postgres_recorder(postgres_ledger)
    event = stored_event(uuid.uuid4(), 1, b"x" * 10_000)
    recorder.insert_events([event])
    again = open_ledger(load(environment(postgres_url)))
    try:
        [found] = postgres_recorder(again).select_events(event.originator_id)
        assert found.state == event.state
    finally:
        again.close()
    table = events_table(postgres_ledger)
    with psycopg.connect(postgres_location(postgres_url).conninfo(), autocommit=True) as conn:
        compression = column_compression(conn, table, "state")
        [(method,)] = conn.execute(f"SELECT pg_column_compression(state) FROM {table}").fetchall()
    assert (compression, method) == ("l", "lz4")


def functions_of(url: str, schema: str) -> set[str]:
    with psycopg.connect(postgres_location(url).conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT proname || '(' || oidvectortypes(proargtypes) || ')'"
            " FROM pg_proc WHERE pronamespace = %s::regnamespace",
            (schema,),
        ).fetchall()
    return {str(name) for (name,) in rows}


@pytest.mark.postgres
def test_each_set_up_of_the_store_creates_its_insert_function_again(
    postgres_ledger: Ledger, postgres_url: str
) -> None:
    recorder = postgres_recorder(postgres_ledger)
    schema = recorder.datastore.schema
    function = f"{recorder.events_table_name}_insert(uuid[], bigint[], text[], bytea[])"
    assert function in functions_of(postgres_url, schema)
    drop_functions(postgres_url, schema)
    assert function not in functions_of(postgres_url, schema)
    open_ledger(load(environment(postgres_url))).close()
    assert function in functions_of(postgres_url, schema)


def stored_event(originator_id: uuid.UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id,
        originator_version=version,
        topic="tests:Event",
        state=state,
    )


def drop_functions(url: str, schema: str) -> None:
    """Drop every function of ``schema``, as in a store set up before they existed."""
    with psycopg.connect(postgres_location(url).conninfo(), autocommit=True) as conn:
        functions = conn.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = %s::regnamespace",
            (schema,),
        ).fetchall()
        for (function,) in functions:
            conn.execute(f"DROP FUNCTION {function}")


@pytest.fixture(params=["as-set-up", "without-functions"])
def one_connection_recorder(
    request: pytest.FixtureRequest, postgres_ledger: Ledger, postgres_url: str
) -> Iterator[FailFastPostgresApplicationRecorder]:
    """The ledger's recorder class over a pool of exactly one connection, on a store as
    the ledger sets it up, or on one without the functions it may have created."""
    if request.param == "without-functions":
        drop_functions(postgres_url, postgres_recorder(postgres_ledger).datastore.schema)
    location = parse_database_url(postgres_url)
    settings = eventsourcing_settings(location, None, create_tables=False)
    settings |= {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}
    factory = DurablePostgresFactory(Environment("Ledger", settings))
    recorder = factory.application_recorder()
    assert isinstance(recorder, FailFastPostgresApplicationRecorder)
    assert recorder.datastore.pool.max_size == 1
    yield recorder
    factory.close()


def session_of(datastore: PostgresDatastore) -> tuple[int, TransactionStatus]:
    with datastore.get_connection() as conn:
        return conn.info.backend_pid, conn.info.transaction_status


def server_side_state(url: str, backend_pid: int) -> str:
    with psycopg.connect(postgres_location(url).conninfo(), autocommit=True) as conn:
        [(state,)] = conn.execute(
            "SELECT state FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
        ).fetchall()
    return str(state)


@pytest.mark.postgres
def test_a_conflicting_insert_raises_integrity_error_and_leaves_the_connection_usable(
    one_connection_recorder: FailFastPostgresApplicationRecorder, postgres_url: str
) -> None:
    recorder = one_connection_recorder
    originator = uuid.uuid4()
    [first_id] = recorder.insert_events([stored_event(originator, 1)])
    backend, status = session_of(recorder.datastore)
    assert status == TransactionStatus.IDLE
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored_event(originator, 1, b'{"again":true}')])
    assert session_of(recorder.datastore) == (backend, TransactionStatus.IDLE)
    assert server_side_state(postgres_url, backend) == "idle"
    [second_id] = recorder.insert_events([stored_event(originator, 2)])
    assert second_id > first_id
    assert session_of(recorder.datastore) == (backend, TransactionStatus.IDLE)
    versions = [(e.originator_version, e.state) for e in recorder.select_events(originator)]
    assert versions == [(1, b"{}"), (2, b"{}")]


@pytest.mark.postgres
def test_a_batch_with_one_conflicting_event_commits_none_of_its_events(
    one_connection_recorder: FailFastPostgresApplicationRecorder, postgres_url: str
) -> None:
    recorder = one_connection_recorder
    taken, fresh = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([stored_event(taken, 1)])
    head = recorder.max_notification_id()
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored_event(fresh, 1), stored_event(taken, 1)])
    assert recorder.select_events(fresh) == []
    assert recorder.max_notification_id() == head
    backend, status = session_of(recorder.datastore)
    assert status == TransactionStatus.IDLE
    assert server_side_state(postgres_url, backend) == "idle"
    ids = recorder.insert_events([stored_event(fresh, 1), stored_event(taken, 2)])
    assert ids is not None
    assert len(ids) == 2
    assert ids[0] < ids[1]
    assert [e.originator_version for e in recorder.select_events(taken)] == [1, 2]


@pytest.mark.postgres
def test_conflicting_inserts_one_after_another_never_leave_the_connection_broken(
    one_connection_recorder: FailFastPostgresApplicationRecorder,
) -> None:
    recorder = one_connection_recorder
    originator = uuid.uuid4()
    recorder.insert_events([stored_event(originator, 1)])
    backend, _ = session_of(recorder.datastore)
    for _ in range(5):
        with pytest.raises(IntegrityError):
            recorder.insert_events([stored_event(originator, 1)])
    assert recorder.insert_events([]) == []
    [_] = recorder.insert_events([stored_event(originator, 2)])
    assert session_of(recorder.datastore) == (backend, TransactionStatus.IDLE)
