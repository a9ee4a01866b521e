"""The commands of a verification beyond receiving deliveries and registrations: what
the status API answered, a policy put in force, an erasure (``domain.verification``)."""

from __future__ import annotations

from typing import Any

from domain.errors import ScanRefMismatchError
from domain.reports import STATUS_CHECKED, Receipt, StatusCheckReport


class MoreCommands:
    """Mixed into ``Verification``; its events are the aggregate's own classes."""

    scan_ref: str
    version: int
    erased_keys: set[str]
    StatusChecked: Any
    PolicyApplied: Any
    Erased: Any
    # ``trigger_event`` is the aggregate's (a stub here would come before the library's
    # in the aggregate's method order).
    trigger_event: Any

    def check_status(self, check: StatusCheckReport) -> Receipt:
        """Record what iDenfy's status API answered (every answer is a new fact)."""
        if check.scan_ref != self.scan_ref:
            raise ScanRefMismatchError(check.scan_ref)
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(check).items()}
        fields.update(kind=STATUS_CHECKED, received_at=fields.pop("asked_at"))
        self.trigger_event(self.StatusChecked, **fields)
        return Receipt(self.scan_ref, self.version, duplicate=False)

    def apply_policy(self, name: str, sha256: str, text: str) -> Receipt:
        """Record the policy put in force."""
        self.trigger_event(
            self.PolicyApplied, scan_ref=self.scan_ref, name=name, sha256=sha256, text=text
        )
        return Receipt(self.scan_ref, self.version, duplicate=False)

    def record_erasure(self, client_id: str, reason: str, by: str, keys: list[str]) -> Receipt:
        """Record that ``keys`` were destroyed, unless this verification says so already."""
        if not set(keys) - self.erased_keys:
            return Receipt(self.scan_ref, self.version, duplicate=True)
        fields = {"client_id": client_id, "reason": reason, "erased_by": by, "key_ids": keys}
        self.trigger_event(self.Erased, scan_ref=self.scan_ref, **fields)
        return Receipt(self.scan_ref, self.version, duplicate=False)
