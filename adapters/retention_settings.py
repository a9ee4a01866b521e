"""``LEDGER_RETENTION_DAYS``: days a client's data is kept after its relationship ends."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.completeness_settings import SettingError

RETENTION_DAYS = "LEDGER_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 1826  # five years, as anti-money-laundering law asks
MAX_RETENTION_DAYS = 100 * 366


def parse_retention_days(environ: Mapping[str, str]) -> int:
    text = environ.get(RETENTION_DAYS, "").strip()
    if not text:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(text)
    except ValueError:
        raise SettingError(f"{RETENTION_DAYS}: not a whole number of days: {text!r}") from None
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise SettingError(f"{RETENTION_DAYS}: expected 0 to {MAX_RETENTION_DAYS} days")
    return days
