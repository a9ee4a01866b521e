"""Verifying the whole ledger, and the digests auditors keep outside the database."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.data_keys import open_events
from app.service.ledger import Ledger
from domain.audit import ChainChecker, ChainProblem
from domain.chain import LedgerDigest
from domain.verification import Verification

BATCH = 5_000


class UnreadableLedgerError(ValueError):
    """No stored event decodes at all: a missing or wrong encryption key, not tampering."""


class DigestFileError(ValueError):
    """A saved digest file that cannot be read; the text says why."""


@dataclass(frozen=True)
class SavedDigest:
    """What ``--save-digest`` wrote: the commitment and the heads it was made of."""

    events: int
    digest: str
    at: str
    heads: dict[str, tuple[int, str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "digest": self.digest,
            "at": self.at,
            "heads": [[ref, seq, head] for ref, (seq, head) in self.heads.items()],
        }

    @classmethod
    def load(cls, path: Path) -> SavedDigest:
        try:
            data = json.loads(path.read_text())
            heads = {str(ref): (int(seq), str(head)) for ref, seq, head in data["heads"]}
            saved = cls(int(data["events"]), str(data["digest"]), str(data["at"]), heads)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DigestFileError(f"{path}: not a saved ledger digest ({error})") from None
        check = LedgerDigest()
        for scan_ref, (sequence, head) in heads.items():
            check.add(scan_ref, sequence, head)
        if check.hexdigest() != saved.digest or check.events != saved.events:
            raise DigestFileError(f"{path}: its heads do not add up to its digest; edited?")
        return saved


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``ledger verify``."""

    events: int
    digest: SavedDigest
    problems: list[ChainProblem]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_ledger(
    ledger: Ledger,
    at: datetime,
    saved: SavedDigest | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute every chain from the event store, and compare with ``saved`` if given."""
    keep = {ref: seq for ref, (seq, _) in saved.heads.items()} if saved else {}
    checker = ChainChecker(keep)
    position, count = 0, 0
    head = ledger.recorder.max_notification_id() or 0
    while True:
        notifications = ledger.recorder.select_notifications(
            start=position, limit=BATCH, inclusive_of_start=False
        )
        decoded = []
        for notification in notifications:
            try:
                event = ledger.mapper.to_domain_event(notification)
                assert isinstance(event, Verification.Event)
            except Exception as error:  # any way a stored event fails to decode is tampering
                checker.undecodable(
                    str(notification.originator_id),
                    notification.originator_version,
                    type(error).__name__,
                )
                continue
            decoded.append((event, notification.id))
        # Each payload checked against its SHA-256 once opened; erased ones cannot be.
        open_events(ledger.keys, [event for event, _ in decoded])
        for event, position in decoded:
            checker.add(event, position)
        count += len(notifications)
        if progress is not None and notifications:
            progress(count, max(head, notifications[-1].id))
        if len(notifications) < BATCH:
            break
        position = notifications[-1].id
    if count and not checker.chains:
        raise UnreadableLedgerError(
            f"none of the {count} stored events decodes; is LEDGER_ENCRYPTION_KEY the key"
            " the ledger was written with?"
        )
    digest = LedgerDigest()
    heads: dict[str, tuple[int, str]] = {}
    for chain in checker.heads():
        if chain.head is not None:
            digest.add(chain.scan_ref, chain.sequence, chain.head)
            heads[chain.scan_ref] = (chain.sequence, chain.head)
    now = SavedDigest(digest.events, digest.hexdigest(), at.isoformat(), heads)
    problems = checker.named_problems()
    if saved is not None:
        problems.extend(_against(saved, checker))
    return VerifyReport(count, now, problems)


def _against(saved: SavedDigest, checker: ChainChecker) -> list[ChainProblem]:
    """Saved heads that the ledger no longer contains as they were."""
    problems = []
    for scan_ref, (sequence, head) in saved.heads.items():
        chain = checker.chains.get(scan_ref)
        if chain is None:
            problems.append(ChainProblem(scan_ref, sequence, "missing since the saved digest"))
        elif chain.sequence < sequence:
            problems.append(
                ChainProblem(scan_ref, sequence, "history cut short since the saved digest")
            )
        elif chain.hashes.get(sequence) != head:
            problems.append(
                ChainProblem(scan_ref, sequence, "history rewritten since the saved digest")
            )
    return problems
