"""What happened to a verification, in the order the ledger heard it?"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from projections.verification_view import VerificationProjection, VerificationView


class AuditTimelineView(VerificationView):
    """The timeline entries of each verification."""

    @abstractmethod
    def timeline(self, scan_ref: str) -> list[dict[str, Any]] | None:
        """The entries in sequence order, or None when the verification is unknown."""


class AuditTimelineProjection(VerificationProjection[AuditTimelineView]):
    """Keeps each verification's timeline: preliminary versus manual, late, superseded."""

    name = "audit_timeline"
