"""A ledger with a checkpoint key, for the verifiable log's tests (ADR 28)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.signed_note import Signer
from app.bootstrap import bootstrap
from app.config import load
from app.service.merkle_log import TreeLog
from app.service.services import Services
from tests.support.settings import environment

LOG_SIGNER = Signer(name="ledger.test/log", seed=bytes(range(32)))
LOG_VERIFIER = str(LOG_SIGNER.verifier())


def signing_environment(database_url: str, **extra: str) -> dict[str, str]:
    return environment(database_url, LEDGER_CHECKPOINT_KEY=str(LOG_SIGNER), **extra)


@contextmanager
def signing_services(database_url: str) -> Iterator[Services]:
    built = bootstrap(load(signing_environment(database_url)))
    try:
        yield built
    finally:
        built.close()


def tree_of(services: Services) -> TreeLog:
    assert services.tree is not None
    return services.tree


def event_hashes(services: Services) -> list[bytes]:
    """The events' hashes in ledger order, read the library's way."""
    found = []
    for notification in services.ledger.recorder.select_notifications(start=None, limit=10_000):
        event = services.ledger.mapper.to_domain_event(notification)
        found.append(bytes.fromhex(event.hash))  # type: ignore[attr-defined]
    return found
