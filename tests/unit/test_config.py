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
    SIGNING_KEYS,
    ApiKey,
    ConfigError,
    load,
    parse_api_keys,
    parse_encryption_key,
    parse_signing_keys,
)

VARIABLES = (DATABASE_URL, SIGNING_KEYS, API_KEYS, ENCRYPTION_KEY)
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
        (API_KEYS, "backend:t1,,auditor:t2"),
        (API_KEYS, "backend:t1,"),
        (API_KEYS, "backend"),
        (API_KEYS, "backend:"),
        (API_KEYS, "backend:   "),
        (API_KEYS, ":t1"),
        (API_KEYS, "root:t1"),
        (API_KEYS, "Backend:t1"),
        (API_KEYS, "backend:t1,auditor:t1"),
        (API_KEYS, "backend:t1,backend:t1"),
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
    message = config_error(good_environment(**{API_KEYS: "backend:s3cret-one,root:s3cret-two"}))

    assert "entry 2" in message
    assert "s3cret" not in message


def test_a_duplicate_api_token_error_does_not_repeat_the_token() -> None:
    message = config_error(good_environment(**{API_KEYS: "backend:s3cret,auditor:s3cret"}))

    assert "s3cret" not in message


def test_good_values_parse() -> None:
    settings = load(
        {
            DATABASE_URL: "postgresql://ledger:pw@db.example:5433/ledger?schema=audit",
            SIGNING_KEYS: " first-key , second-key ",
            API_KEYS: "backend:b-token, auditor:a-token ,admin:x-token",
            ENCRYPTION_KEY: f" {GOOD_ENCRYPTION_KEY} ",
        }
    )

    assert settings.database_url == "postgresql://ledger:pw@db.example:5433/ledger?schema=audit"
    assert settings.store == PostgresLocation(
        host="db.example", port=5433, user="ledger", password="pw", dbname="ledger", schema="audit"
    )
    assert settings.signing_keys == ("first-key", "second-key")
    assert settings.api_keys == (
        ApiKey("backend", "b-token"),
        ApiKey("auditor", "a-token"),
        ApiKey("admin", "x-token"),
    )
    assert settings.encryption_key == GOOD_ENCRYPTION_KEY


def test_the_settings_repr_reveals_no_secret() -> None:
    settings = load(
        {
            SIGNING_KEYS: "signing-secret",
            API_KEYS: "admin:token-secret",
            ENCRYPTION_KEY: GOOD_ENCRYPTION_KEY,
        }
    )

    shown = repr(settings)
    assert "signing-secret" not in shown
    assert "token-secret" not in shown
    assert GOOD_ENCRYPTION_KEY not in shown
    assert "token-secret" not in repr(settings.api_keys)


def test_signing_keys_are_split_on_commas_and_trimmed() -> None:
    assert parse_signing_keys("a") == ("a",)
    assert parse_signing_keys(" a ,b ") == ("a", "b")


def test_a_token_may_itself_contain_a_colon() -> None:
    assert parse_api_keys("backend:abc:def") == (ApiKey("backend", "abc:def"),)


def test_an_empty_api_key_list_grants_nothing() -> None:
    assert parse_api_keys("") == ()


@pytest.mark.parametrize("size", [16, 24, 32])
def test_an_encryption_key_of_an_aes_size_is_accepted(size: int) -> None:
    value = base64.b64encode(bytes(range(size))).decode()

    assert parse_encryption_key(f"{value}\n") == value
