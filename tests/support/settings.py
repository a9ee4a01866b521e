"""The service's settings in tests: its signing keys, API tokens and environment."""

from __future__ import annotations

SIGNING_KEYS = ("first-signing-key", "second-signing-key")
API_TOKENS = {
    "backend": "backend-token-of-the-tests-0001",
    "auditor": "auditor-token-of-the-tests-0001",
    "admin": "admin-token-of-the-tests-00001",
}


def environment(database_url: str, **extra: str) -> dict[str, str]:
    """The service's environment variables for a test."""
    return {
        "LEDGER_DATABASE_URL": database_url,
        "IDENFY_SIGNING_KEYS": ",".join(SIGNING_KEYS),
        "LEDGER_API_KEYS": ",".join(f"{role}:{token}" for role, token in API_TOKENS.items()),
        **extra,
    }
