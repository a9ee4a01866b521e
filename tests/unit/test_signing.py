"""Webhook authenticity: iDenfy's HMAC-SHA256 over the raw body, under any configured key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from adapters.signing import SignatureVerifier, fingerprint, sign

FIRST_KEY = "first-signing-key-7c1d"
SECOND_KEY = "second-signing-key-93ab"
BODY = b'{"scanRef":"3f2b8c1e-5a7d-11ef-9c2a-0242ac120002","final":true}'


def expected_signature(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verifier() -> SignatureVerifier:
    return SignatureVerifier((FIRST_KEY, SECOND_KEY))


def test_sign_is_the_lowercase_hex_hmac_sha256_of_the_body() -> None:
    signature = sign(FIRST_KEY, BODY)

    assert signature == expected_signature(FIRST_KEY, BODY)
    assert len(signature) == 64
    assert signature == signature.lower()


def test_sign_matches_what_openssl_dgst_hmac_prints_for_a_known_vector() -> None:
    # RFC 4231 test case 2, as `printf %s "$DATA" | openssl dgst -sha256 -hmac Jefe` prints it.
    assert sign("Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_a_body_signed_with_the_first_key_matches_key_number_one() -> None:
    key_id = verifier().matching_key(BODY, sign(FIRST_KEY, BODY))

    assert key_id == f"#1:{fingerprint(FIRST_KEY)}"


def test_a_body_signed_with_the_second_key_matches_key_number_two() -> None:
    key_id = verifier().matching_key(BODY, sign(SECOND_KEY, BODY))

    assert key_id == f"#2:{fingerprint(SECOND_KEY)}"


def test_an_uppercase_hex_signature_is_accepted() -> None:
    key_id = verifier().matching_key(BODY, sign(FIRST_KEY, BODY).upper())

    assert key_id == f"#1:{fingerprint(FIRST_KEY)}"


def test_whitespace_around_the_signature_is_ignored() -> None:
    key_id = verifier().matching_key(BODY, f" {sign(SECOND_KEY, BODY)}\t")

    assert key_id == f"#2:{fingerprint(SECOND_KEY)}"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "   ",
        sign("a-key-nobody-configured", BODY),
        sign(FIRST_KEY, BODY + b" "),
        sign(FIRST_KEY, BODY)[:-1],
        sign(FIRST_KEY, BODY) + "0",
        "z" * 64,
        "sha256=" + sign(FIRST_KEY, BODY),
        "é" * 64,
        sign(FIRST_KEY, BODY)[:-1] + "ü",
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "wrong-key",
        "other-body",
        "truncated",
        "extended",
        "not-hex",
        "prefixed",
        "non-ascii",
        "non-ascii-last-character",
    ],
)
def test_a_wrong_missing_or_malformed_signature_matches_no_key(signature: str | None) -> None:
    assert verifier().matching_key(BODY, signature) is None


def test_the_key_itself_never_appears_in_the_key_id() -> None:
    for key in (FIRST_KEY, SECOND_KEY):
        key_id = verifier().matching_key(BODY, sign(key, BODY))

        assert key_id is not None
        assert key not in key_id


def test_a_fingerprint_is_stable_short_hex() -> None:
    assert fingerprint(FIRST_KEY) == fingerprint(FIRST_KEY)
    assert len(fingerprint(FIRST_KEY)) == 12
    int(fingerprint(FIRST_KEY), 16)


def test_different_keys_have_different_fingerprints() -> None:
    assert fingerprint(FIRST_KEY) != fingerprint(SECOND_KEY)
    assert fingerprint("a") != fingerprint("A")


def test_a_fingerprint_is_not_the_plain_sha256_of_the_key() -> None:
    assert not hashlib.sha256(FIRST_KEY.encode()).hexdigest().startswith(fingerprint(FIRST_KEY))


@pytest.mark.parametrize("keys", [(), []], ids=["tuple", "list"])
def test_a_verifier_without_keys_is_refused(keys: tuple[str, ...] | list[str]) -> None:
    with pytest.raises(ValueError, match="signing key"):
        SignatureVerifier(keys)
