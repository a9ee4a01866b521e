"""The auditor UI's session cookies and CSRF tokens, without I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.config import ApiKey
from app.service.access import ApiKeys, Caller
from app.ui.auth import HOME, safe_next
from app.ui.session import SESSION_LIFETIME, UiSessions

KEYS = (
    ApiKey("backend", "backend-token-of-the-unit-tests"),
    ApiKey("auditor", "auditor-token-of-the-unit-tests"),
    ApiKey("admin", "admin-token-of-the-unit-tests"),
)
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def sessions(keys: tuple[ApiKey, ...] = KEYS) -> UiSessions:
    return UiSessions(ApiKeys(keys), keys)


def caller_of(token: str, keys: tuple[ApiKey, ...] = KEYS) -> Caller:
    found = ApiKeys(keys).caller(token)
    assert found is not None
    return found


def test_a_session_cookie_names_the_key_id_and_never_the_token() -> None:
    auditor = caller_of("auditor-token-of-the-unit-tests")

    cookie = sessions().issue(auditor, NOW)

    assert auditor.key_id in cookie
    assert "auditor-token-of-the-unit-tests" not in cookie


def test_a_session_stands_for_its_auditor_until_it_expires() -> None:
    auditor = caller_of("auditor-token-of-the-unit-tests")
    cookie = sessions().issue(auditor, NOW)

    assert sessions().caller(cookie, NOW + SESSION_LIFETIME - timedelta(seconds=1)) == auditor
    assert sessions().caller(cookie, NOW + SESSION_LIFETIME) is None


def test_an_admin_session_is_accepted_like_an_auditor_one() -> None:
    admin = caller_of("admin-token-of-the-unit-tests")

    assert sessions().caller(sessions().issue(admin, NOW), NOW) == admin


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace(c.split(".")[3], str(int(c.split(".")[3]) + 86_400)),
        lambda c: c.replace(c.split(".")[1], "another-session-id"),
        lambda c: c.replace("auditor:", "admin:"),
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),
        lambda c: c + ".extra",
        lambda c: "",
        lambda c: "v1.auditor:x.1.y",
        lambda c: "v2.s.auditor:x.1.y",
    ],
    ids=[
        "later expiry",
        "other session id",
        "other key id",
        "changed signature",
        "extra part",
        "empty",
        "garbage",
        "garbage v2",
    ],
)
def test_a_tampered_session_cookie_is_refused(tamper: Callable[[str], str]) -> None:
    cookie = sessions().issue(caller_of("auditor-token-of-the-unit-tests"), NOW)

    assert sessions().caller(tamper(cookie), NOW) is None


def test_a_session_ends_when_its_key_is_removed_from_the_configuration() -> None:
    cookie = sessions().issue(caller_of("auditor-token-of-the-unit-tests"), NOW)
    without = tuple(key for key in KEYS if key.role != "auditor")

    assert sessions(without).caller(cookie, NOW) is None


def test_each_session_has_an_id_of_its_own_that_the_cookie_names() -> None:
    auditor = caller_of("auditor-token-of-the-unit-tests")
    first, second = sessions().open(auditor, NOW), sessions().open(auditor, NOW)

    assert first.id != second.id
    assert first.id in first.cookie
    found = sessions().session(first.cookie, NOW)
    assert found is not None
    assert (found.id, found.caller, found.expires) == (first.id, auditor, first.expires)


def test_only_auditor_and_admin_keys_are_kept_for_sessions() -> None:
    assert sorted(sessions().key_ids()) == sorted(
        caller_of(key.token).key_id for key in KEYS if key.role != "backend"
    )


def test_a_backend_key_never_holds_a_session_even_when_signed() -> None:
    cookie = sessions().issue(caller_of("backend-token-of-the-unit-tests"), NOW)

    assert sessions().caller(cookie, NOW) is None


def test_every_worker_of_one_configuration_accepts_the_same_session_and_csrf_token() -> None:
    auditor = caller_of("auditor-token-of-the-unit-tests")
    first, second = sessions(), sessions()
    nonce = first.new_csrf_nonce()

    assert second.caller(first.issue(auditor, NOW), NOW) == auditor
    assert second.csrf_ok(nonce, first.csrf_token(nonce))


def test_a_csrf_token_is_good_only_with_the_cookie_it_was_made_for() -> None:
    ui = sessions()
    nonce, other = ui.new_csrf_nonce(), ui.new_csrf_nonce()

    assert ui.csrf_ok(nonce, ui.csrf_token(nonce))
    assert not ui.csrf_ok(other, ui.csrf_token(nonce))
    assert not ui.csrf_ok(None, ui.csrf_token(nonce))
    assert not ui.csrf_ok(nonce, None)
    assert not ui.csrf_ok(nonce, "")


@pytest.mark.parametrize(
    "given",
    [
        None,
        "",
        "https://evil.example/ui/recent",
        "//evil.example/ui/recent",
        "/ui//evil.example",
        "/ui/\\evil.example",
        "/webhooks/idenfy",
        "/ui/logout",
        "/ui/login?next=/ui/recent",
    ],
)
def test_after_sign_in_only_pages_inside_the_ui_are_followed(given: str | None) -> None:
    assert safe_next(given) == HOME


def test_after_sign_in_the_page_asked_for_is_followed() -> None:
    assert safe_next("/ui/search?q=user-1") == "/ui/search?q=user-1"
