"""What the three projections share: per-verification rows derived from its facts.

Each projection keeps, for every verification, the facts of its events and what the
status rules make of them. An event is folded in by loading the verification's
facts, adding the new one, evaluating the rules again and saving the result with
the tracking record, in one transaction of the view.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from domain.verification import Verification
from projections.facts import Fact, fact_of
from projections.rules import Evaluation, evaluate


@dataclass(frozen=True)
class VerificationState:
    """One verification's facts and their evaluation under the current rules."""

    scan_ref: str
    facts: list[Fact]
    evaluation: Evaluation


class VerificationView(TrackingRecorder, ABC):
    """A materialised view with one row per verification."""

    @abstractmethod
    def facts(self, scan_refs: Collection[str]) -> dict[str, list[Fact]]:
        """The stored facts of these verifications (absent ones are left out)."""

    @abstractmethod
    def save(self, states: Sequence[VerificationState], tracking: Tracking) -> None:
        """Write the rows and the tracking record in one transaction.

        Skips the whole batch when ``tracking`` is not past what the view has
        already recorded, so an event is never counted twice.
        """


TView = TypeVar("TView", bound=VerificationView)


class VerificationProjection(Projection[TView], Generic[TView]):
    """Folds events into per-verification rows, one or many events at a time."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Fold one event into the view (the library's interface; the workers fold
        batches with ``Fold`` directly)."""
        if isinstance(domain_event, Verification.Event):
            fact = fact_of(domain_event, tracking.notification_id)
            states = Fold([self.view], fact.position - 1).fold([(domain_event.scan_ref, fact)])
            self.view.save(states, tracking)


def folded(scan_ref: str, stored: Sequence[Fact], added: Sequence[Fact]) -> VerificationState:
    """A verification's state from its stored facts and new ones (a repeat replaces)."""
    if stored:
        merged = {f.sequence: f for f in stored}
        merged.update((f.sequence, f) for f in added)
        ordered = sorted(merged.values(), key=_sequence)
    else:
        ordered = sorted(added, key=_sequence)
    return VerificationState(scan_ref, ordered, evaluate(scan_ref, ordered))


def _sequence(fact: Fact) -> int:
    return fact.sequence


class Fold:
    """Folds batches of facts into the states of views that are in step.

    The one way events become view rows, live and in a replay: ``views`` have all
    recorded the ledger up to ``start``; each batch's facts past that are added to
    the facts the first view has stored for their verifications, and evaluated.

    With ``remember`` (views built from nothing) it keeps which verifications it has
    written, so that it only asks the view for the facts of those, until there are
    more than ``remember``: in a ledger written in order, most batches hold whole
    histories.
    """

    def __init__(self, views: Sequence[VerificationView], start: int, remember: int = 0):
        self.views = views
        self.start = start
        self.remember = remember
        self.written: set[str] | None = set() if remember and start == 0 else None

    def fold(
        self, facts: Iterable[tuple[str, Fact]], done: Sequence[str] = ()
    ) -> list[VerificationState]:
        """The new states of the verifications ``facts`` add to (in ledger order).

        ``done`` are verifications whose rows were made elsewhere for this batch.
        """
        if self.written is not None:
            self.written.update(done)
        new: dict[str, list[Fact]] = {}
        for scan_ref, fact in facts:
            if fact.position > self.start:
                new.setdefault(scan_ref, []).append(fact)
        if not new:
            return []
        stored = self._stored(new.keys())
        states = [folded(ref, stored.get(ref, ()), added) for ref, added in new.items()]
        if self.written is not None:
            self.written.update(new)
            if len(self.written) > self.remember:
                self.written = None
        return states

    def _stored(self, scan_refs: Iterable[str]) -> dict[str, list[Fact]]:
        written = self.written
        missing = [ref for ref in scan_refs if written is None or ref in written]
        return self.views[0].facts(missing) if missing else {}


def in_step(positions: Mapping[str, int]) -> dict[int, list[str]]:
    """The names of ``positions`` grouped by position: each group shares one fold."""
    groups: dict[int, list[str]] = {}
    for name, position in positions.items():
        groups.setdefault(position, []).append(name)
    return groups
