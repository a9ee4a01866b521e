"""What the three projections share: per-verification rows derived from its facts.

Each projection keeps, for every verification, the facts of its events and what the
status rules make of them. An event is folded in by loading the verification's
facts, adding the new one, evaluating the rules again and saving the result with
the tracking record, in one transaction of the view.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
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
        self.process_batch([(domain_event, tracking)])

    def process_batch(self, items: Sequence[tuple[Any, Tracking]]) -> None:
        """Fold a run of events (in ledger order) into the view in one transaction."""
        if items:
            self.view.save(self.fold(items), items[-1][1])

    def fold(self, items: Sequence[tuple[Any, Tracking]]) -> list[VerificationState]:
        """The new state of every verification the events touch, from the stored facts."""
        new: dict[str, list[Fact]] = {}
        for event, tracking in items:
            if isinstance(event, Verification.Event):
                new.setdefault(event.scan_ref, []).append(fact_of(event, tracking.notification_id))
        return self.fold_facts(new)

    def fold_facts(self, new: Mapping[str, Sequence[Fact]]) -> list[VerificationState]:
        """The new state of each verification in ``new`` after adding its new facts."""
        stored = self.view.facts(new.keys()) if new else {}
        return [folded(ref, stored.get(ref, ()), facts) for ref, facts in new.items()]


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
