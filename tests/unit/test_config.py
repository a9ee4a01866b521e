"""The service's settings, read from an environment mapping; bad values stop start-up."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.persistence import PostgresLocation, SQLiteLocation
from app.config import (
    API_KEYS,
    DATABASE_URL,
    DEFAULT_DATABASE_URL,
    ENCRYPTION_KEY,
    FAILURE_WINDOW,
    FAILURES_GLOBAL,
    FAILURES_PER_CLIENT,
    SIGNING_KEYS,
    ApiKey,
    ConfigError,
    FailureLimits,
    load,
    parse_api_keys,
    parse_encryption_key,
    parse_signing_keys,
)

VARIABLES = (DATABASE_URL, SIGNING_KEYS, API_KEYS, ENCRYPTION_KEY)
LONG_A = "a-signing-key-of-16-bytes"
LONG_B = "b-signing-key-of-16-bytes"
GOOD_ENCRYPTION_KEY = base64.b64encode(bytes(range(32))).decode()


def good_environment(**overrides: str) -> dict[str, str]:
    return {SIGNING_KEYS: "first-signing-key"} | overrides


def config_error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as error:
        load(environ)
    return str(error.value)


def assert_names_only(variable: str, message: str) -> None:
    assert len(message.splitlines()) == 1, message
    assert variable in message
    for other in set(VARIABLES) - {variable}:
        assert other not in message


def test_the_variable_names_are_the_contracts() -> None:
    assert VARIABLES == (
        "LEDGER_DATABASE_URL",
        "IDENFY_SIGNING_KEYS",
        "LEDGER_API_KEYS",
        "LEDGER_ENCRYPTION_KEY",
    )


def test_unset_variables_take_their_defaults() -> None:
    settings = load(good_environment())

    assert DEFAULT_DATABASE_URL == "sqlite:///var/ledger.sqlite3"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.store == SQLiteLocation(Path("var/ledger.sqlite3"))
    assert settings.api_keys == ()
    assert settings.encryption_key is None


def test_blank_values_count_as_unset() -> None:
    settings = load(good_environment(**{DATABASE_URL: "  ", API_KEYS: " ", ENCRYPTION_KEY: ""}))

    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.api_keys == ()
    assert settings.encryption_key is None


@pytest.mark.parametrize("environ", [{}, {SIGNING_KEYS: ""}, {SIGNING_KEYS: "  "}])
def test_missing_signing_keys_stop_start_up_naming_the_variable(environ: dict[str, str]) -> None:
    assert_names_only(SIGNING_KEYS, config_error(environ))


def test_signing_keys_may_be_missing_when_not_required() -> None:
    settings = load({}, require_signing_keys=False)

    assert settings.signing_keys == ()
    assert settings.store == SQLiteLocation(Path("var/ledger.sqlite3"))


def test_malformed_signing_keys_stop_start_up_even_when_not_required() -> None:
    with pytest.raises(ConfigError, match=SIGNING_KEYS):
        load({SIGNING_KEYS: "a,,b"}, require_signing_keys=False)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (SIGNING_KEYS, "first,,second"),
        (SIGNING_KEYS, "first,"),
        (SIGNING_KEYS, ",first"),
        (SIGNING_KEYS, "first, ,second"),
        (API_KEYS, "backend:token-one-0123456789abcdef,,auditor:token-two-0123456789abcdef"),
        (API_KEYS, "backend:token-one-0123456789abcdef,"),
        (API_KEYS, "backend"),
        (API_KEYS, "backend:"),
        (API_KEYS, "backend:   "),
        (API_KEYS, ":token-one-0123456789abcdef"),
        (API_KEYS, "root:token-one-0123456789abcdef"),
        (API_KEYS, "Backend:token-one-0123456789abcdef"),
        (API_KEYS, "backend:token-one-0123456789abcdef,auditor:token-one-0123456789abcdef"),
        (API_KEYS, "backend:token-one-0123456789abcdef,backend:token-one-0123456789abcdef"),
        (ENCRYPTION_KEY, "not base64!"),
        (ENCRYPTION_KEY, "AAAAAAAAAAAAAAAAAAAAAA"),
        (ENCRYPTION_KEY, base64.b64encode(bytes(20)).decode()),
        (ENCRYPTION_KEY, base64.b64encode(bytes(64)).decode()),
        (ENCRYPTION_KEY, base64.b64encode(b"x").decode()),
        (DATABASE_URL, "mysql://localhost/ledger"),
        (DATABASE_URL, "sqlite://"),
        (DATABASE_URL, "postgresql://localhost:notaport/ledger"),
        (DATABASE_URL, "var/ledger.sqlite3"),
        (DATABASE_URL, "mysql://line\nbreak/ledger"),
    ],
    ids=[
        "signing-empty-entry",
        "signing-trailing-comma",
        "signing-leading-comma",
        "signing-blank-entry",
        "api-empty-entry",
        "api-trailing-comma",
        "api-role-without-token",
        "api-role-with-empty-token",
        "api-role-with-blank-token",
        "api-token-without-role",
        "api-unknown-role",
        "api-role-in-the-wrong-case",
        "api-duplicate-token-across-roles",
        "api-duplicate-entry",
        "encryption-not-base64",
        "encryption-unpadded",
        "encryption-20-bytes",
        "encryption-64-bytes",
        "encryption-1-byte",
        "database-unknown-scheme",
        "database-sqlite-without-path",
        "database-bad-port",
        "database-not-a-url",
        "database-with-a-line-break",
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_its_variable(
    variable: str, value: str
) -> None:
    assert_names_only(variable, config_error(good_environment(**{variable: value})))


def test_an_api_key_error_names_the_entry_without_repeating_the_token() -> None:
    message = config_error(
        good_environment(
            **{API_KEYS: "backend:s3cret-one-0123456789abcdef,root:s3cret-two-0123456789abcdef"}
        )
    )

    assert "entry 2" in message
    assert "s3cret" not in message


def test_a_duplicate_api_token_error_does_not_repeat_the_token() -> None:
    message = config_error(
        good_environment(
            **{API_KEYS: "backend:s3cret-0123456789abcdefghij,auditor:s3cret-0123456789abcdefghij"}
        )
    )

    assert "s3cret" not in message


def test_good_values_parse() -> None:
    settings = load(
        {
            DATABASE_URL: "postgresql://ledger:pw@db.example:5433/ledger?schema=audit",
            SIGNING_KEYS: " first-signing-key , second-signing-key ",
            API_KEYS: (
                "backend:b-token-0123456789abcdefghij, auditor:a-token-0123456789abcdefghij"
                " ,admin:x-token-0123456789abcdefghij"
            ),
            ENCRYPTION_KEY: f" {GOOD_ENCRYPTION_KEY} ",
        }
    )

    assert settings.database_url == "postgresql://ledger:pw@db.example:5433/ledger?schema=audit"
    assert settings.store == PostgresLocation(
        host="db.example", port=5433, user="ledger", password="pw", dbname="ledger", schema="audit"
    )
    assert settings.signing_keys == ("first-signing-key", "second-signing-key")
    assert settings.api_keys == (
        ApiKey("backend", "b-token-0123456789abcdefghij"),
        ApiKey("auditor", "a-token-0123456789abcdefghij"),
        ApiKey("admin", "x-token-0123456789abcdefghij"),
    )
    assert settings.encryption_key == GOOD_ENCRYPTION_KEY


def test_the_settings_repr_reveals_no_secret() -> None:
    settings = load(
        {
            SIGNING_KEYS: "signing-secret-0123",
            API_KEYS: "admin:token-secret-0123456789abcd",
            ENCRYPTION_KEY: GOOD_ENCRYPTION_KEY,
        }
    )

    shown = repr(settings)
    assert "signing-secret-0123" not in shown
    assert "token-secret-0123456789abcd" not in shown
    assert GOOD_ENCRYPTION_KEY not in shown
    assert "token-secret-0123456789abcd" not in repr(settings.api_keys)


def test_signing_keys_are_split_on_commas_and_trimmed() -> None:
    assert parse_signing_keys(LONG_A) == (LONG_A,)
    assert parse_signing_keys(f" {LONG_A} ,{LONG_B} ") == (LONG_A, LONG_B)


def test_a_token_may_itself_contain_a_colon() -> None:
    assert parse_api_keys("backend:abc:def-0123456789abcdefghij") == (
        ApiKey("backend", "abc:def-0123456789abcdefghij"),
    )


def test_an_empty_api_key_list_grants_nothing() -> None:
    assert parse_api_keys("") == ()


@pytest.mark.parametrize("size", [16, 24, 32])
def test_an_encryption_key_of_an_aes_size_is_accepted(size: int) -> None:
    value = base64.b64encode(bytes(range(size))).decode()

    assert parse_encryption_key(f"{value}\n") == value


@pytest.mark.parametrize(
    "value",
    ["x", "fifteen-bytes!!", "long-enough-signing-key,tiny", "\u00e9" * 7],
    ids=["one-character", "15-bytes", "second-key-short", "7-two-byte-characters"],
)
def test_a_signing_key_under_16_bytes_stops_start_up(value: str) -> None:
    message = config_error({SIGNING_KEYS: value})

    assert_names_only(SIGNING_KEYS, message)
    assert "16 bytes" in message
    assert "tiny" not in message


def test_a_signing_key_of_16_bytes_is_accepted() -> None:
    assert load({SIGNING_KEYS: "sixteen-bytes-ok"}).signing_keys == ("sixteen-bytes-ok",)


@pytest.mark.parametrize(
    "value",
    ["backend:Q", "backend:23-characters-token-abc", "admin:a-token-long-enough-for-it,auditor:Z9"],
    ids=["one-character", "23-characters", "second-entry"],
)
def test_an_api_token_under_24_characters_stops_start_up_without_repeating_it(
    value: str,
) -> None:
    message = config_error(good_environment(**{API_KEYS: value}))

    assert_names_only(API_KEYS, message)
    assert "24 characters" in message
    for token in (pair.partition(":")[2] for pair in value.split(",")):
        assert token not in message


def test_an_api_token_of_24_characters_is_accepted() -> None:
    token = "a" * 24

    assert parse_api_keys(f"auditor:{token}") == (ApiKey("auditor", token),)


def test_the_failed_authentication_limits_have_documented_defaults() -> None:
    limits = load(good_environment()).failure_limits

    assert limits == FailureLimits(per_client=20, overall=200, window_seconds=300)


def test_the_failed_authentication_limits_are_read_from_the_environment() -> None:
    environ = good_environment(
        **{FAILURES_PER_CLIENT: "3", FAILURES_GLOBAL: " 50 ", FAILURE_WINDOW: "60"}
    )

    assert load(environ).failure_limits == FailureLimits(3, 50, 60)


@pytest.mark.parametrize("variable", [FAILURES_PER_CLIENT, FAILURES_GLOBAL, FAILURE_WINDOW])
@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5", "1000001"])
def test_a_bad_failure_limit_stops_start_up_naming_its_variable(variable: str, value: str) -> None:
    message = config_error(good_environment(**{variable: value}))

    assert len(message.splitlines()) == 1
    assert message.startswith(f"{variable}:")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEDGER_OVERDUE_GRACE", "an hour"),
        ("LEDGER_OVERDUE_GRACE", "-5"),
        ("LEDGER_RECONCILE_INTERVAL", "1.5"),
        ("LEDGER_RECONCILE_RATE", "0"),
        ("LEDGER_RECONCILE_EVERY", "soon"),
        ("IDENFY_API_URL", "ftp://ivs.idenfy.com"),
        ("IDENFY_API_KEY", "a-key-without-its-secret"),
        ("LEDGER_TREE_FOLLOWER", "sometimes"),
        ("LEDGER_CHECKPOINT_INTERVAL", "0"),
    ],
)
def test_a_bad_completeness_or_log_setting_stops_start_up_naming_it(
    variable: str, value: str
) -> None:
    assert_names_only(variable, config_error(good_environment(**{variable: value})))


def test_completeness_and_log_settings_parse_with_their_defaults() -> None:
    defaults = load(good_environment())
    given = load(
        good_environment(
            LEDGER_OVERDUE_GRACE="0",
            LEDGER_RECONCILE_INTERVAL="600",
            LEDGER_RECONCILE_EVERY="3600",
            LEDGER_RECONCILE_RATE="10",
            IDENFY_API_KEY="key-1",
            IDENFY_API_SECRET="secret-of-the-tests-0001",
            LEDGER_TREE_FOLLOWER="off",
        )
    )

    assert defaults.completeness.overdue_grace == 3600
    assert defaults.completeness.reconcile_interval == 86_400
    assert (defaults.completeness.reconcile_every, defaults.completeness.api()) == (0, None)
    assert defaults.tree_follower is True
    assert (given.completeness.overdue_grace, given.completeness.reconcile_interval) == (0, 600)
    assert (given.completeness.reconcile_every, given.completeness.reconcile_rate) == (3600, 10)
    api = given.completeness.api()
    assert api is not None
    assert api.base_url == "https://ivs.idenfy.com"
    assert "secret-of-the-tests-0001" not in repr(given)
    assert given.tree_follower is False
