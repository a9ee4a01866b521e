"""What is the status of a verification, and which verifications match a filter?"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from projections.verification_view import VerificationProjection, VerificationView


@dataclass(frozen=True)
class StatusFilter:
    """The filters of ``GET /verifications``; None means any."""

    status: str | None = None
    final: bool | None = None
    client_id: str | None = None
    suspected: bool | None = None
    overdue: bool | None = None
    """True: only verifications past their deadline and not finished."""
    decision: str | None = None
    """Only verifications the policy in force decides so (``approve``, ...)."""


class CurrentStatusView(VerificationView):
    """Status documents by scanRef, newest activity first in lists."""

    @abstractmethod
    def status(self, scan_ref: str) -> dict[str, Any] | None:
        """The status document, or None when the verification is unknown."""

    @abstractmethod
    def statuses(self, where: StatusFilter, limit: int, before: int | None) -> list[dict[str, Any]]:
        """Documents matching ``where`` with ``lastPosition`` below ``before``, newest first."""


class CurrentStatusProjection(VerificationProjection[CurrentStatusView]):
    """Keeps every verification's status document under the current rules."""

    name = "current_status"
