"""Which kind a webhook delivery is, from its receiver path and ``Idenfy-Event-Type``."""

from __future__ import annotations

import pytest

from adapters.idenfy import HEADER_KINDS
from app.http.webhooks import resolve_kind
from domain.reports import Kind


@pytest.mark.parametrize("kind", [kind for kind in Kind if kind is not Kind.COMPANY], ids=str)
def test_the_path_alone_gives_the_kind(kind: Kind) -> None:
    assert resolve_kind(kind, None) == (kind, None)


@pytest.mark.parametrize(("header", "kind"), HEADER_KINDS.items(), ids=HEADER_KINDS.keys())
def test_the_header_alone_gives_the_kind(header: str, kind: Kind) -> None:
    assert resolve_kind(None, header) == (kind, None)


@pytest.mark.parametrize(
    ("path_kind", "header"),
    [
        (Kind.AUTO_FINISHED, "IDENTIFICATION_AUTO_FINISHED"),
        (Kind.CANCELLED, "IDENTIFICATION_CANCELLED"),
        (Kind.CANCELLED, "IDENTIFICATION_CANCELED"),
        (Kind.DOCUMENT_EXPIRATION, "DOCUMENT_EXPIRATION"),
    ],
    ids=["auto-finished", "cancelled", "canceled", "document-expiration"],
)
def test_a_header_that_agrees_with_the_path_records_no_disagreement(
    path_kind: Kind, header: str
) -> None:
    assert resolve_kind(path_kind, header) == (path_kind, None)


def test_the_path_wins_over_a_disagreeing_header_which_is_kept_raw() -> None:
    assert resolve_kind(Kind.MANUAL_FINISHED, "IDENTIFICATION_AUTO_FINISHED") == (
        Kind.MANUAL_FINISHED,
        "IDENTIFICATION_AUTO_FINISHED",
    )


def test_a_delivery_with_neither_path_nor_header_is_the_legacy_identification() -> None:
    assert resolve_kind(None, None) == (Kind.IDENTIFICATION, None)


@pytest.mark.parametrize("header", ["VIDEO_CALL_FINISHED", "IDENTIFICATION_SOMETHING_NEW"])
def test_an_unknown_header_without_a_path_has_no_kind(header: str) -> None:
    assert resolve_kind(None, header) == (None, None)


def test_the_path_wins_over_an_unknown_header_which_is_kept() -> None:
    assert resolve_kind(Kind.AUTO_FINISHED, "VIDEO_CALL_FINISHED") == (
        Kind.AUTO_FINISHED,
        "VIDEO_CALL_FINISHED",
    )


@pytest.mark.parametrize(
    "header",
    [
        "identification_auto_finished",
        "Identification_Auto_Finished",
        "  IDENTIFICATION_AUTO_FINISHED\t",
    ],
    ids=["lowercase", "mixed-case", "padded"],
)
def test_the_header_is_read_regardless_of_case_and_surrounding_whitespace(header: str) -> None:
    assert resolve_kind(None, header) == (Kind.AUTO_FINISHED, None)
    assert resolve_kind(Kind.AUTO_FINISHED, header) == (Kind.AUTO_FINISHED, None)


def test_a_disagreeing_header_is_kept_exactly_as_it_came() -> None:
    header = " identification_auto_finished "

    assert resolve_kind(Kind.EXPIRED, header) == (Kind.EXPIRED, header)
