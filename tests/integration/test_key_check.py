"""A store's data stays under one encryption key: a service given another is refused."""

from __future__ import annotations

import base64
import os
import random

import pytest

from adapters.key_check import TABLE
from adapters.sql import Sql
from app.bootstrap import bootstrap, ledger_sql, open_ledger
from app.config import ConfigError, load
from tests.support.scenario import approved, tell
from tests.support.settings import environment

KEY_A = base64.b64encode(os.urandom(32)).decode()
KEY_B = base64.b64encode(os.urandom(32)).decode()


def settings_with(database_url: str, key: str | None) -> dict[str, str]:
    extra = {} if key is None else {"LEDGER_ENCRYPTION_KEY": key}
    return environment(database_url, **extra)


def write_a_story(database_url: str, key: str | None) -> None:
    services = bootstrap(load(settings_with(database_url, key)))
    try:
        for step in approved(random.Random(1), "key-1", "client-k", 1718787000):
            tell(services.ledger, step)
    finally:
        services.close()


def forget_the_check(database_url: str, key: str | None) -> None:
    """The store as a version without the check left it: data, and no record of its key."""
    ledger = open_ledger(load(settings_with(database_url, key)))
    sql: Sql = ledger_sql(ledger)
    with sql.transaction(commit=True) as c:
        c.execute(f"DROP TABLE {sql.table(TABLE)}")
    ledger.close()


@pytest.mark.parametrize(
    ("written", "given", "says"),
    [
        pytest.param(KEY_A, KEY_B, "another key", id="another-key"),
        pytest.param(KEY_A, None, "is not set", id="no-key-on-encrypted-data"),
        pytest.param(None, KEY_B, "without encryption", id="a-key-on-plain-data"),
    ],
)
def test_a_key_that_does_not_open_the_store_is_refused_naming_the_variable(
    database_url: str, written: str | None, given: str | None, says: str
) -> None:
    write_a_story(database_url, written)

    with pytest.raises(ConfigError, match=f"^LEDGER_ENCRYPTION_KEY: .*{says}"):
        bootstrap(load(settings_with(database_url, given)))


@pytest.mark.parametrize("key", [KEY_A, None], ids=["encrypted", "plain"])
def test_the_right_key_opens_the_store_again(database_url: str, key: str | None) -> None:
    write_a_story(database_url, key)

    services = bootstrap(load(settings_with(database_url, key)))
    try:
        assert services.ledger.recorder.max_notification_id()
    finally:
        services.close()


@pytest.mark.parametrize(
    ("written", "given", "refused"),
    [
        pytest.param(KEY_A, KEY_B, True, id="another-key"),
        pytest.param(KEY_A, None, True, id="no-key-on-encrypted-data"),
        pytest.param(None, KEY_B, True, id="a-key-on-plain-data"),
        pytest.param(KEY_A, KEY_A, False, id="the-same-key"),
        pytest.param(None, None, False, id="plain-again"),
    ],
)
def test_a_store_without_a_record_of_its_key_is_judged_by_its_first_event(
    database_url: str, written: str | None, given: str | None, refused: bool
) -> None:
    write_a_story(database_url, written)
    forget_the_check(database_url, written)

    if refused:
        with pytest.raises(ConfigError, match=r"^LEDGER_ENCRYPTION_KEY: "):
            bootstrap(load(settings_with(database_url, given)))
        return
    bootstrap(load(settings_with(database_url, given))).close()
    # Judged once, then recorded: a wrong key is now refused by the record itself.
    with pytest.raises(ConfigError, match=r"^LEDGER_ENCRYPTION_KEY: "):
        bootstrap(load(settings_with(database_url, KEY_B if given is None else None)))


def test_an_empty_store_takes_the_key_it_is_first_opened_with(database_url: str) -> None:
    bootstrap(load(settings_with(database_url, KEY_A))).close()

    with pytest.raises(ConfigError, match="another key"):
        bootstrap(load(settings_with(database_url, KEY_B)))
