"""The settings of ADR 23's limits and of the proxies believed: defaults, values, errors."""

from __future__ import annotations

import pytest

from app.config import (
    BODY_TIMEOUT,
    FORWARDED_ALLOW_IPS,
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    ConfigError,
    ConnectionLimits,
    load,
)
from tests.support.settings import environment

URL = "sqlite:///ledger.sqlite3"


def test_the_defaults_are_the_documented_ones() -> None:
    settings = load(environment(URL))

    assert settings.connections == ConnectionLimits(
        max_header_bytes=16384,
        max_headers=100,
        header_timeout=10.0,
        body_timeout=30.0,
        idle_timeout=5.0,
        max_connections=500,
    )
    assert settings.forwarded_allow_ips == "127.0.0.1,::1"


def test_each_limit_is_read_from_its_variable() -> None:
    settings = load(
        environment(
            URL,
            **{
                MAX_HEADER_BYTES: "8192",
                MAX_HEADERS: " 50 ",
                HEADER_TIMEOUT: "2.5",
                BODY_TIMEOUT: "20",
                IDLE_TIMEOUT: "1",
                MAX_CONNECTIONS: "900",
                FORWARDED_ALLOW_IPS: "10.0.0.0/8, 192.0.2.7,::1",
            },
        )
    )

    assert settings.connections == ConnectionLimits(8192, 50, 2.5, 20.0, 1.0, 900)
    assert settings.forwarded_allow_ips == "10.0.0.0/8,192.0.2.7,::1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (MAX_HEADER_BYTES, "0"),
        (MAX_HEADERS, "many"),
        (MAX_CONNECTIONS, "-1"),
        (HEADER_TIMEOUT, "0"),
        (BODY_TIMEOUT, "soon"),
        (IDLE_TIMEOUT, "7200"),
        (FORWARDED_ALLOW_IPS, "proxy.internal"),
        (FORWARDED_ALLOW_IPS, "10.0.0.1/8"),
        (FORWARDED_ALLOW_IPS, "*,10.0.0.1"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load(environment(URL, **{name: value}))


def test_star_trusts_every_proxy() -> None:
    assert load(environment(URL, **{FORWARDED_ALLOW_IPS: " * "})).forwarded_allow_ips == "*"
