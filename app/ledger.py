"""The ledger's service layer: load a verification, give it a command, save its events.

``Ledger.record`` and ``Ledger.register`` are the only write paths into the event
store. Both go through ``_change``, which makes them idempotent and safe under
concurrency: two writers that load the same version race on the store's unique
(aggregate, version) key; the loser reloads and retries, and then sees either the
winner's event (a duplicate) or a new version to append after.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    PersistenceError,
)
from eventsourcing.utils import Environment, EnvType

from adapters.transcodings import BytesAsBase64
from domain.reports import Delivery, ExpirationNotice, Outcome, Receipt, Registration
from domain.verification import Verification

MAX_CONFLICT_RETRIES = 50


class StoreUnavailableError(Exception):
    """The event store could not commit or answer; nothing was acknowledged."""


class Ledger(Application[UUID]):
    """Every verification's history, appended to and never changed."""

    name = "Ledger"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Settings come only from the ledger's own configuration, never os.environ.
        return Environment(name, dict(env or {}))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(BytesAsBase64())

    def record(self, delivery: Delivery, report: Outcome | ExpirationNotice) -> Receipt:
        """Append one authentic delivery, once; a repeat gets the original's receipt."""
        return self._change(
            report.scan_ref, delivery.received_at, lambda v: v.receive(delivery, report)
        )

    def register(self, registration: Registration, at: datetime) -> Receipt:
        """Append the backend's registration, once."""
        return self._change(registration.scan_ref, at, lambda v: v.register(registration))

    def verification(self, scan_ref: str) -> Verification | None:
        """The verification's current state, or None when nothing is recorded for it."""
        try:
            return self._get(scan_ref)
        except AggregateNotFoundError:
            return None
        except PersistenceError as error:
            raise StoreUnavailableError(str(error)) from error

    def _get(self, scan_ref: str) -> Verification:
        verification: Verification = self.repository.get(Verification.create_id(scan_ref))
        return verification

    def _change(
        self, scan_ref: str, at: datetime, command: Callable[[Verification], Receipt]
    ) -> Receipt:
        for attempt in range(MAX_CONFLICT_RETRIES):
            verification: Verification
            try:
                verification = self._get(scan_ref)
            except AggregateNotFoundError:
                verification = Verification.start(scan_ref, at)
            except PersistenceError as error:
                raise StoreUnavailableError(str(error)) from error
            receipt = command(verification)
            if receipt.duplicate:
                return receipt
            try:
                recordings = self.save(verification)
            except IntegrityError:
                # Another writer appended this version first: reload and decide again.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            except PersistenceError as error:
                raise StoreUnavailableError(str(error)) from error
            return replace(receipt, position=recordings[-1].notification.id)
        raise StoreUnavailableError(f"{scan_ref}: too many concurrent writers, try again")
