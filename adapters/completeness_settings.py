"""The settings of completeness and reconciliation, read from a mapping of the
environment's variables (``app.config.load`` hands it over and turns ``SettingError``
into its own error)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.idenfy_api import DEFAULT_BASE_URL, IdenfyApiSettings

API_URL = "IDENFY_API_URL"
API_KEY = "IDENFY_API_KEY"
API_SECRET = "IDENFY_API_SECRET"  # noqa: S105 (the variable's name, not a secret)
OVERDUE_GRACE = "LEDGER_OVERDUE_GRACE"
RECONCILE_INTERVAL = "LEDGER_RECONCILE_INTERVAL"
RECONCILE_EVERY = "LEDGER_RECONCILE_EVERY"
RECONCILE_RATE = "LEDGER_RECONCILE_RATE"
DEFAULT_GRACE = 3600
DEFAULT_INTERVAL = 86_400
DEFAULT_RATE = 30
MAX_SECONDS = 10 * 365 * 86_400


class SettingError(ValueError):
    """A variable with a value that cannot be used; the text names it."""


@dataclass(frozen=True)
class CompletenessSettings:
    """When a verification is overdue, and how reconciliation asks iDenfy about it."""

    api_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    overdue_grace: int = DEFAULT_GRACE
    """Seconds added to a verification's expected end before it is overdue."""
    reconcile_interval: int = DEFAULT_INTERVAL
    """Seconds before the same verification may be asked about again."""
    reconcile_every: int = 0
    """Seconds between scheduled runs inside ``ledger project``; 0: none (the default)."""
    reconcile_rate: int = DEFAULT_RATE
    """Questions a minute at most, for scheduled runs (``--rate`` for ``ledger reconcile``)."""

    def api(self) -> IdenfyApiSettings | None:
        """The API client's settings, or None when the credentials are not both set."""
        if not self.api_key or not self.api_secret:
            return None
        return IdenfyApiSettings(self.api_key, self.api_secret, base_url=self.api_url)


def _seconds(environ: Mapping[str, str], name: str, default: int, low: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= MAX_SECONDS:
        raise SettingError(f"{name}: expected whole seconds from {low} to {MAX_SECONDS}")
    return int(raw)


def parse_completeness(environ: Mapping[str, str]) -> CompletenessSettings:
    settings = CompletenessSettings(
        api_url=environ.get(API_URL, "").strip() or DEFAULT_BASE_URL,
        api_key=environ.get(API_KEY, "").strip() or None,
        api_secret=environ.get(API_SECRET, "").strip() or None,
        overdue_grace=_seconds(environ, OVERDUE_GRACE, DEFAULT_GRACE),
        reconcile_interval=_seconds(environ, RECONCILE_INTERVAL, DEFAULT_INTERVAL),
        reconcile_every=_seconds(environ, RECONCILE_EVERY, 0),
        reconcile_rate=_seconds(environ, RECONCILE_RATE, DEFAULT_RATE, low=1),
    )
    if bool(settings.api_key) != bool(settings.api_secret):
        raise SettingError(f"{API_KEY} and {API_SECRET}: set both, or neither")
    try:  # the URL is checked whether or not credentials are set yet
        IdenfyApiSettings("-", "-", base_url=settings.api_url)
    except ValueError as error:
        raise SettingError(f"{API_URL}: {error}") from None
    return settings
