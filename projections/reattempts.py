"""How many attempts has a verification used, and how does a client stand overall?"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from projections.verification_view import VerificationProjection, VerificationView


class ReattemptsView(VerificationView):
    """Attempts per verification, and per-client totals answered from an index."""

    @abstractmethod
    def attempts(self, scan_ref: str) -> dict[str, Any] | None:
        """``attempts`` and the re-attempt counts of one verification."""

    @abstractmethod
    def client(self, client_id: str) -> dict[str, Any] | None:
        """The client's totals (``verifications``, ``approved``, ``denied``,
        ``suspected``, ``latestScanRef``), or None when the client is unknown."""


class ReattemptsProjection(VerificationProjection[ReattemptsView]):
    """Keeps attempt counts per verification and the client totals they add up to."""

    name = "reattempts"
