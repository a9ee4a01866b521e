"""The service's own errors, which every edge (HTTP, CLI, writer process) translates."""

from __future__ import annotations


class StoreUnavailableError(Exception):
    """The event store could not commit or answer; nothing was acknowledged."""


class AccessDeniedError(Exception):
    """A caller without a known token (401) or with a role the action does not allow (403)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
