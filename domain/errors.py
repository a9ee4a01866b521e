"""What the aggregate refuses to record."""

from __future__ import annotations


class ScanRefMismatchError(ValueError):
    """A report or registration for another scanRef was given to this verification."""


class KindMismatchError(ValueError):
    """A report of one kind (result, notice, monitoring, company) under another's."""


class RegistrationConflictError(ValueError):
    """A registration that differs from the one already recorded for this scanRef."""
