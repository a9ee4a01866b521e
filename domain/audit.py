"""Checking recorded histories against their hash chains."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from domain.chain import event_hash
from domain.verification import Verification

UNREADABLE = "unreadable"


@dataclass(frozen=True)
class ChainProblem:
    """One place where a recorded history is not what its chain says it was."""

    scan_ref: str
    sequence: int
    reason: str


@dataclass
class ChainState:
    """How far one verification's chain has been checked."""

    scan_ref: str
    first_position: int
    sequence: int = 0
    head: str | None = None
    hashes: dict[int, str] = field(default_factory=dict)


class ChainChecker:
    """Checks events, in ledger order, against their chains; collects the problems.

    ``keep`` names sequences whose hashes to remember per scanRef, for comparing a
    saved digest's heads afterwards.
    """

    def __init__(self, keep: dict[str, int] | None = None):
        self.chains: dict[str, ChainState] = {}
        self.problems: list[ChainProblem] = []
        self.keep = keep or {}
        self.scan_refs: dict[str, str] = {}  # aggregate id -> scanRef, as learned

    def add(self, event: Verification.Event, position: int) -> None:
        scan_ref = event.scan_ref
        chain = self.chains.get(scan_ref)
        if chain is None:
            chain = self.chains[scan_ref] = ChainState(scan_ref, position)
            self.scan_refs[str(Verification.create_id(scan_ref))] = scan_ref
        sequence = event.originator_version
        if event.originator_id != Verification.create_id(scan_ref):
            self._problem(scan_ref, sequence, "the event is filed under another verification")
        if sequence != chain.sequence + 1:
            self._problem(
                scan_ref,
                sequence,
                f"expected sequence {chain.sequence + 1} here (events missing, added or moved)",
            )
        if event.prev_hash != chain.head and chain.head is not UNREADABLE:
            self._problem(scan_ref, sequence, "prevHash does not match the previous event's hash")
        if event.hash != event_hash(type(event).__qualname__, vars(event)):
            self._problem(scan_ref, sequence, "the recorded fields do not match the event's hash")
        if (
            isinstance(event, Verification.Reported)
            and event.payload
            and hashlib.sha256(event.payload).hexdigest() != event.payload_sha256
        ):
            self._problem(scan_ref, sequence, "the payload does not match its SHA-256")
        chain.sequence = sequence
        chain.head = event.hash
        if self.keep.get(scan_ref) == sequence:
            chain.hashes[sequence] = event.hash

    def undecodable(self, originator_id: str, sequence: int, error: str) -> None:
        """A stored event of aggregate ``originator_id`` that cannot be read at all."""
        self._problem(originator_id, sequence, f"the stored event no longer decodes: {error}")
        chain = self.chains.get(self.scan_refs.get(originator_id, ""))
        if chain is not None:
            # Check what follows against the sequence, not against a hash we cannot know.
            chain.sequence, chain.head = sequence, UNREADABLE

    def named_problems(self) -> list[ChainProblem]:
        """The problems, each named by its scanRef where one was learned from its chain."""
        return [
            ChainProblem(self.scan_refs.get(p.scan_ref, p.scan_ref), p.sequence, p.reason)
            for p in self.problems
        ]

    def _problem(self, scan_ref: str, sequence: int, reason: str) -> None:
        self.problems.append(ChainProblem(scan_ref, sequence, reason))

    def heads(self) -> list[ChainState]:
        """Every chain, in the ledger order of its first event."""
        return sorted(self.chains.values(), key=lambda chain: chain.first_position)
