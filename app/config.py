"""The service's configuration, read from the environment in one place.

A bad value stops start-up with one line naming the variable; the service never
starts half-configured.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.checkpoint_settings import CHECKPOINT_KEY, DEFAULT_CHECKPOINT_INTERVAL, parse_log
from adapters.completeness_settings import CompletenessSettings, SettingError, parse_completeness
from adapters.persistence import DatabaseUrlError, StoreLocation, parse_database_url
from adapters.retention_settings import DEFAULT_RETENTION_DAYS, parse_retention_days
from adapters.signed_note import Signer

__all__ = ["CHECKPOINT_KEY", "ConfigError", "Settings", "environment", "load"]

DATABASE_URL = "LEDGER_DATABASE_URL"
SIGNING_KEYS = "IDENFY_SIGNING_KEYS"
API_KEYS = "LEDGER_API_KEYS"
ENCRYPTION_KEY = "LEDGER_ENCRYPTION_KEY"
LOG_FORMAT = "LEDGER_LOG_FORMAT"
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
FORWARDED_ALLOW_IPS = "LEDGER_FORWARDED_ALLOW_IPS"
MAX_HEADER_BYTES = "LEDGER_MAX_HEADER_BYTES"
MAX_HEADERS = "LEDGER_MAX_HEADERS"
HEADER_TIMEOUT = "LEDGER_HEADER_TIMEOUT"
BODY_TIMEOUT = "LEDGER_BODY_TIMEOUT"
IDLE_TIMEOUT = "LEDGER_IDLE_TIMEOUT"
MAX_CONNECTIONS = "LEDGER_MAX_CONNECTIONS"
FAILURES_PER_CLIENT = "LEDGER_AUTH_FAILURES_PER_CLIENT"
FAILURES_GLOBAL = "LEDGER_AUTH_FAILURES_GLOBAL"
FAILURE_WINDOW = "LEDGER_AUTH_FAILURE_WINDOW_SECONDS"

DEFAULT_DATABASE_URL = "sqlite:///var/ledger.sqlite3"
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"
ROLES = ("backend", "auditor", "admin")
MIN_SIGNING_KEY_BYTES = 16
MIN_TOKEN_CHARACTERS = 24


class ConfigError(ValueError):
    """A setting the service cannot run with; the message names the variable."""


@dataclass(frozen=True)
class ApiKey:
    """A bearer token and the role it grants."""

    role: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may hold of a server process (ADR 23); per process, so a server
    with ``--workers N`` holds N times ``max_connections``."""

    max_header_bytes: int = 16 * 1024
    """The request line and headers of one request."""
    max_headers: int = 100
    header_timeout: float = 10.0
    """Seconds from a request's first byte to the end of its headers."""
    body_timeout: float = 30.0
    """Seconds from the end of a request's headers to the end of its body."""
    idle_timeout: float = 5.0
    """Seconds a connection may wait, with no request under way, for its next one."""
    max_connections: int = 500
    """Open connections; one more is answered 503 and closed at once."""


@dataclass(frozen=True)
class FailureLimits:
    """Failed authentications (unknown tokens, on the API or the UI's sign-in) that one
    server process answers in ``window_seconds``: from one source address, and from all
    of them; past either, further attempts get 429 until the window ends."""

    per_client: int = 20
    overall: int = 200
    window_seconds: int = 300


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with."""

    database_url: str
    store: StoreLocation
    signing_keys: tuple[str, ...] = field(repr=False)
    api_keys: tuple[ApiKey, ...] = field(default=(), repr=False)
    encryption_key: str | None = field(default=None, repr=False)
    text_logs: bool = False
    """Readable text log lines (``LEDGER_LOG_FORMAT=text``, ``--dev``) instead of JSON."""
    metrics_dir: str | None = None
    """Where the server's processes share their metrics (prometheus-client's multiprocess
    mode, set by ``ledger serve --workers``)."""
    connections: ConnectionLimits = ConnectionLimits()
    forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS
    """The proxies whose ``X-Forwarded-For``/``-Proto`` are believed: addresses, networks
    (``10.0.0.0/8``) or ``*``, comma-separated."""
    failure_limits: FailureLimits = field(default_factory=FailureLimits)
    """How many failed sign-ins and Bearer tokens are answered before 429s."""
    checkpoint_key: Signer | None = field(default=None, repr=False)
    """The signer of the ledger's checkpoints (ADR 28); none are signed without one."""
    checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL
    """Seconds between the checkpoints the tree follower publishes while the ledger grows."""
    policy_path: str | None = None
    """The policy file that seeds a new store (``LEDGER_POLICY``; ``ledger replay --policy``
    changes the one in force later)."""
    tree_follower: bool = True
    """Whether projection processes keep the Merkle tree up (``LEDGER_TREE_FOLLOWER``)."""
    completeness: CompletenessSettings = field(default_factory=CompletenessSettings)
    """Overdue verifications and reconciliation with iDenfy's status API."""
    retention_days: int = DEFAULT_RETENTION_DAYS  # after a relationship ends


def parse_signing_keys(value: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in value.split(","))
    if not value.strip() or any(not key for key in keys):
        raise ConfigError(f"{SIGNING_KEYS}: expected comma-separated, non-empty keys")
    for number, key in enumerate(keys, start=1):
        if len(key.encode()) < MIN_SIGNING_KEY_BYTES:
            raise ConfigError(
                f"{SIGNING_KEYS}: key {number} is shorter than {MIN_SIGNING_KEY_BYTES} bytes"
            )
    return keys


def parse_api_keys(value: str) -> tuple[ApiKey, ...]:
    if not value.strip():
        return ()
    keys = []
    for number, pair in enumerate(value.split(","), start=1):
        role, sep, token = pair.strip().partition(":")
        if not sep or role not in ROLES or not token.strip():
            raise ConfigError(
                f"{API_KEYS}: entry {number} is not role:token with a role of {', '.join(ROLES)}"
            )
        if len(token.strip()) < MIN_TOKEN_CHARACTERS:
            raise ConfigError(
                f"{API_KEYS}: the token of entry {number} is shorter than"
                f" {MIN_TOKEN_CHARACTERS} characters"
            )
        keys.append(ApiKey(role, token.strip()))
    tokens = [key.token for key in keys]
    if len(set(tokens)) != len(tokens):
        raise ConfigError(f"{API_KEYS}: the same token is given more than once")
    return tuple(keys)


def parse_encryption_key(value: str) -> str:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{ENCRYPTION_KEY}: not valid base64") from None
    if len(raw) not in (16, 24, 32):
        raise ConfigError(f"{ENCRYPTION_KEY}: expected base64 of 16, 24 or 32 bytes")
    return value.strip()


def parse_count(name: str, value: str, default: int) -> int:
    if not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}: expected a whole number above 0")
    return number


def parse_seconds(name: str, value: str, default: float) -> float:
    if not value.strip():
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise ConfigError(f"{name}: expected seconds above 0 and at most 3600")
    return seconds


def parse_connection_limits(environ: Mapping[str, str]) -> ConnectionLimits:
    default = ConnectionLimits()
    return ConnectionLimits(
        max_header_bytes=parse_count(
            MAX_HEADER_BYTES, environ.get(MAX_HEADER_BYTES, ""), default.max_header_bytes
        ),
        max_headers=parse_count(MAX_HEADERS, environ.get(MAX_HEADERS, ""), default.max_headers),
        header_timeout=parse_seconds(
            HEADER_TIMEOUT, environ.get(HEADER_TIMEOUT, ""), default.header_timeout
        ),
        body_timeout=parse_seconds(
            BODY_TIMEOUT, environ.get(BODY_TIMEOUT, ""), default.body_timeout
        ),
        idle_timeout=parse_seconds(
            IDLE_TIMEOUT, environ.get(IDLE_TIMEOUT, ""), default.idle_timeout
        ),
        max_connections=parse_count(
            MAX_CONNECTIONS, environ.get(MAX_CONNECTIONS, ""), default.max_connections
        ),
    )


def parse_forwarded_allow_ips(value: str) -> str:
    """A comma-separated list of addresses, networks or ``*``, checked here so that a typo
    stops start-up rather than trusting nobody (or everybody)."""
    if not value.strip():
        return DEFAULT_FORWARDED_ALLOW_IPS
    entries = [entry.strip() for entry in value.split(",")]
    if entries == ["*"]:
        return "*"
    for entry in entries:
        try:
            if "/" in entry:
                ipaddress.ip_network(entry)
            else:
                ipaddress.ip_address(entry)
        except ValueError:
            raise ConfigError(
                f"{FORWARDED_ALLOW_IPS}: {entry!r} is not an address or a network"
                " (10.0.0.0/8), and * must stand alone"
            ) from None
    return ",".join(entries)


def parse_limit(environ: Mapping[str, str], name: str, default: int) -> int:
    """A whole number from 1 to a million, or ``default`` when unset."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise ConfigError(f"{name}: expected a whole number from 1 to 1000000")
    return int(raw)


def parse_failure_limits(environ: Mapping[str, str]) -> FailureLimits:
    default = FailureLimits()
    return FailureLimits(
        per_client=parse_limit(environ, FAILURES_PER_CLIENT, default.per_client),
        overall=parse_limit(environ, FAILURES_GLOBAL, default.overall),
        window_seconds=parse_limit(environ, FAILURE_WINDOW, default.window_seconds),
    )


def environment() -> dict[str, str]:
    """This process's environment: the one place it is read (``load`` takes a copy, and
    ``ledger serve`` hands one, with its additions, to the processes it starts)."""
    return dict(os.environ)


def load(environ: Mapping[str, str], *, require_signing_keys: bool = True) -> Settings:
    """Settings from ``environ``, or ConfigError for the first bad or missing variable."""
    url = environ.get(DATABASE_URL, "").strip() or DEFAULT_DATABASE_URL
    try:
        store = parse_database_url(url)
    except DatabaseUrlError as error:
        raise ConfigError(f"{DATABASE_URL}: {error}") from None
    raw_keys = environ.get(SIGNING_KEYS, "")
    if raw_keys.strip():
        signing_keys = parse_signing_keys(raw_keys)
    elif require_signing_keys:
        raise ConfigError(f"{SIGNING_KEYS}: not set; give at least one webhook signing key")
    else:
        signing_keys = ()
    raw_encryption_key = environ.get(ENCRYPTION_KEY, "")
    try:
        completeness, log = parse_completeness(environ), parse_log(environ)
        retention_days = parse_retention_days(environ)
    except SettingError as error:
        raise ConfigError(str(error)) from None
    return Settings(
        database_url=url,
        store=store,
        signing_keys=signing_keys,
        api_keys=parse_api_keys(environ.get(API_KEYS, "")),
        encryption_key=parse_encryption_key(raw_encryption_key)
        if raw_encryption_key.strip()
        else None,
        text_logs=environ.get(LOG_FORMAT, "").strip() == "text",
        metrics_dir=environ.get(METRICS_DIR) or None,
        connections=parse_connection_limits(environ),
        forwarded_allow_ips=parse_forwarded_allow_ips(environ.get(FORWARDED_ALLOW_IPS, "")),
        failure_limits=parse_failure_limits(environ),
        checkpoint_key=log.key,
        checkpoint_interval=log.interval,
        tree_follower=log.follower,
        policy_path=environ.get("LEDGER_POLICY", "").strip() or None,
        completeness=completeness,
        retention_days=retention_days,
    )
