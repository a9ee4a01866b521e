"""The ledger's service layer: load a verification, give it a command, save its events.

``Ledger.record`` and ``Ledger.register`` are the only write paths into the event
store. Both go through ``_change``, which makes them idempotent and safe under
concurrency: two writers that load the same version race on the store's unique
(aggregate, version) key; the loser reloads and retries, and then sees either the
winner's event (a duplicate) or a new version to append after.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    PersistenceError,
    Recording,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment, EnvType

from adapters.bulk_load import select_events_of
from adapters.data_keys import (
    DataKeys,
    ErasedKeyError,
    Sealing,
    open_events,
    sealing_in_progress,
)
from adapters.payload_subjects import client_subject, ref_subject
from adapters.sql import Sql
from adapters.transcodings import BytesAsBase64
from app.service.errors import StoreUnavailableError
from app.service.group_commit import GroupCommit, Pending
from domain.reports import Delivery, Receipt, Registration, Report, StatusCheckReport
from domain.verification import Verification

MAX_CONFLICT_RETRIES = 50
MASTER_KEY = "DATA_KEYS_MASTER"
"""The setting with ``LEDGER_ENCRYPTION_KEY``, which wraps the data keys."""
# Deliveries, and payload bytes, committed together at most: pipelined inserts of a few
# megabytes in one transaction have been seen to stall inside psycopg.
MAX_BATCH = 64
MAX_BATCH_BYTES = 256 * 1024


def _receiving(
    delivery: Delivery, report: Report
) -> tuple[str, datetime, Callable[[Verification], Receipt], int]:
    """The group-commit write of a delivery: its verification, time, command and weight
    (the payload's size, which caps a batch)."""
    return (
        report.scan_ref,
        delivery.received_at,
        lambda v: v.receive(delivery, report),
        len(delivery.payload),
    )


class Ledger(Application[UUID]):
    """Every verification's history, appended to and never changed."""

    name = "Ledger"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Settings come only from the ledger's own configuration, never os.environ.
        return Environment(name, dict(env or {}))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(BytesAsBase64())

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.group = GroupCommit(self._write_batch, MAX_BATCH, MAX_BATCH_BYTES)
        master = self.env.get(MASTER_KEY)
        datastore = getattr(self.recorder, "datastore", None)
        assert datastore is not None, "the ledger is kept in an SQL database"
        self.keys = DataKeys(Sql(datastore), base64.b64decode(master) if master else None)

    def record(self, delivery: Delivery, report: Report) -> Receipt:
        """Append one authentic delivery, once; a repeat gets the original's receipt."""
        return self.group.submit(*_receiving(delivery, report))

    async def record_async(self, delivery: Delivery, report: Report) -> Receipt:
        """``record``, awaited on an event loop instead of holding a thread."""
        return await self.group.submit_async(*_receiving(delivery, report))

    def register(self, registration: Registration, at: datetime) -> Receipt:
        """Append the backend's registration, once."""
        return self.group.submit(registration.scan_ref, at, lambda v: v.register(registration))

    def record_check(self, check: StatusCheckReport) -> Receipt:
        """Append what iDenfy's status API answered about a verification."""
        return self.group.submit(check.scan_ref, check.asked_at, lambda v: v.check_status(check))

    def record_erasure(
        self, scan_ref: str, at: datetime, client_id: str, reason: str, by: str, keys: list[str]
    ) -> Receipt:
        """Append that ``keys`` of ``client_id`` were destroyed, once per verification."""
        return self.group.submit(
            scan_ref, at, lambda v: v.record_erasure(client_id, reason, by, keys)
        )

    def close(self) -> None:
        self.group.close()
        super().close()

    def verification(self, scan_ref: str) -> Verification | None:
        """The verification's current state, or None when nothing is recorded for it."""
        try:
            return self._get(scan_ref)
        except AggregateNotFoundError:
            return None
        except PersistenceError as error:
            raise StoreUnavailableError(str(error)) from error

    def history(self, scan_ref: str) -> list[Verification.Event]:
        """Every event of ``scan_ref``, payloads opened (None where erased)."""
        events = list(self.events.get(Verification.create_id(scan_ref)))
        assert all(isinstance(e, Verification.Event) for e in events)
        open_events(self.keys, events)
        return events  # type: ignore[return-value]

    def _get(self, scan_ref: str) -> Verification:
        verification: Verification = self.repository.get(Verification.create_id(scan_ref))
        return verification

    def _load(self, scan_ref: str, at: datetime) -> Verification:
        try:
            return self._get(scan_ref)
        except AggregateNotFoundError:
            return Verification.start(scan_ref, at)
        except PersistenceError as error:
            raise StoreUnavailableError(str(error)) from error

    def _load_many(self, batch: Sequence[Pending]) -> dict[str, Verification]:
        """The verifications a batch names, read with one query."""
        firsts: dict[str, datetime] = {}
        for pending in batch:
            firsts.setdefault(pending.scan_ref, pending.at)
        ids = {Verification.create_id(ref): ref for ref in firsts}
        loaded: dict[str, Verification] = {}
        for stored in select_events_of(self.recorder, list(ids)):
            event = self.mapper.to_domain_event(stored)
            ref = ids[UUID(str(stored.originator_id))]
            loaded[ref] = event.mutate(loaded.get(ref))  # type: ignore[attr-defined]
        return {ref: loaded.get(ref) or Verification.start(ref, at) for ref, at in firsts.items()}

    def _write_batch(self, batch: Sequence[Pending]) -> None:
        """Apply a batch of commands and commit all their events in one transaction.

        If another process appended to one of these verifications meanwhile, the batch
        is not committed and each write is retried on its own (see ``_change``).
        """
        receipts: list[tuple[Pending, Receipt]] = []
        try:
            try:
                verifications = self._load_many(batch)
            except (OperationalError, InterfaceError):
                # Pooled connections are not pinged before use; after a server restart
                # they are all broken. Test them all once, then read again.
                self._check_connections()
                verifications = self._load_many(batch)
        except PersistenceError as error:
            self._unavailable(batch, error)
            return
        for pending in batch:
            try:
                receipts.append((pending, pending.command(verifications[pending.scan_ref])))
            except Exception as error:
                pending.settle(error=error)
        changed = [v for v in verifications.values() if v.pending_events]
        try:
            recordings = self._save(changed) if changed else []
        except IntegrityError:
            for pending, _ in receipts:
                try:
                    pending.settle(self._change(pending.scan_ref, pending.at, pending.command))
                except Exception as error:
                    pending.settle(error=error)
            return
        except PersistenceError as error:
            self._unavailable([pending for pending, _ in receipts], error)
            return
        positions = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
        for pending, receipt in receipts:
            key = (Verification.create_id(receipt.scan_ref), receipt.sequence)
            position = None if receipt.duplicate else positions.get(key)
            pending.settle(replace(receipt, position=position))

    def _save(self, verifications: Sequence[Verification]) -> list[Recording[UUID]]:
        """``Application.save`` for verifications only.

        The library's ``save`` first asks of every object whether it is an event or an
        aggregate, through ``isinstance`` checks against runtime protocols, which cost
        tens of microseconds each; here every object is known to be a verification.
        What follows is the library's own: record, snapshots, notify.
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for verification in verifications:
            processing.events.extend(verification.collect_events())
            processing.aggregates[verification.id] = verification
        sealing = self._seal(verifications, processing.events)
        try:
            with sealing_in_progress(sealing):
                recordings = self._record(processing)
        except ErasedKeyError:
            self.keys.forget()
            raise
        self.keys.remember(sealing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def _seal(self, verifications: Sequence[Verification], events: Sequence[object]) -> Sealing:
        """Seal every payload of ``events`` under its verification's data key: its
        client's, or its own while it names none (``adapters.data_keys``)."""
        links: list[tuple[str, str]] = []
        of_ref: dict[str, tuple[str, str | None]] = {}  # scanRef: its subject and client
        first: dict[str, int] = {}
        for e in events:
            ref, version = e.scan_ref, e.originator_version  # type: ignore[attr-defined]
            first[ref] = min(first.get(ref, version), version)
        for v in verifications:
            if v.client_id is None:
                of_ref[v.scan_ref] = (ref_subject(v.scan_ref), None)
                continue
            of_ref[v.scan_ref] = (client_subject(v.client_id), v.client_id)
            since = v.client_since or 0
            if since > 1 and since >= first.get(v.scan_ref, since + 1):
                # Its earlier payloads are under its own key, which is now its client's.
                links.append((ref_subject(v.scan_ref), v.client_id))
        # Events made by this write: their payloads are as received, none sealed yet.
        sealed = [e for e in events if isinstance(getattr(e, "payload", None), bytes)]
        subjects = dict(of_ref[e.scan_ref] for e in sealed)  # type: ignore[attr-defined]
        sealing = self.keys.sealing(subjects, links)
        for event in sealed:
            subject, _ = of_ref[event.scan_ref]  # type: ignore[attr-defined]
            event.__dict__["payload"] = sealing.seal(subject, event.payload)  # type: ignore[attr-defined]
        return sealing

    def _check_connections(self) -> None:
        """Replace every broken idle connection of a PostgreSQL store's pool."""
        datastore = getattr(self.recorder, "datastore", None)
        if isinstance(datastore, PostgresDatastore):
            datastore.pool.check()

    def _unavailable(self, batch: Sequence[Pending], error: Exception) -> None:
        """Refuse the batch, and every write queued behind it, which would wait in vain."""
        refused = StoreUnavailableError(str(error))
        for pending in batch:
            pending.settle(error=refused)
        self.group.fail_waiting(refused)

    def _change(
        self, scan_ref: str, at: datetime, command: Callable[[Verification], Receipt]
    ) -> Receipt:
        for attempt in range(MAX_CONFLICT_RETRIES):
            verification = self._load(scan_ref, at)
            receipt = command(verification)
            if receipt.duplicate:
                return receipt
            try:
                recordings = self._save([verification])
            except IntegrityError:
                # Another writer appended this version first: reload and decide again.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            except PersistenceError as error:
                raise StoreUnavailableError(str(error)) from error
            return replace(receipt, position=recordings[-1].notification.id)
        raise StoreUnavailableError(f"{scan_ref}: too many concurrent writers, try again")
