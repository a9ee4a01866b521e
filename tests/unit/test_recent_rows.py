"""The rows one live reader read, handed to another reader of the same process: only
when they hold every row the other would have read from the database."""

from __future__ import annotations

from adapters.bulk_load import EventRow
from adapters.recent_rows import ROW_OVERHEAD_BYTES, RecentRows


def rows(*positions: int, size: int = 10) -> list[EventRow]:
    return [(p, 1, "topic", b"x" * size, f"id-{p}") for p in positions]


def positions(found: list[EventRow] | None) -> list[int] | None:
    return None if found is None else [row[0] for row in found]


def test_a_reader_inside_a_kept_read_takes_the_rest_of_it() -> None:
    recent = RecentRows()
    recent.keep(10, rows(11, 12, 14, 15))  # 13: a gap the read itself found

    assert positions(recent.after(10, 100)) == [11, 12, 14, 15]
    assert positions(recent.after(12, 100)) == [14, 15]
    assert positions(recent.after(13, 100)) == [14, 15]
    assert positions(recent.after(11, 2)) == [12, 14]


def test_reads_that_follow_each_other_are_taken_together_up_to_the_limit() -> None:
    recent = RecentRows()
    recent.keep(0, rows(1, 2, 3))
    recent.keep(3, rows(4, 5))
    recent.keep(5, rows(7))

    assert positions(recent.after(1, 100)) == [2, 3, 4, 5, 7]
    assert positions(recent.after(2, 3)) == [3, 4, 5]


def test_nothing_is_taken_before_the_first_kept_read_or_after_the_last() -> None:
    recent = RecentRows()
    recent.keep(10, rows(11, 12))

    assert recent.after(9, 100) is None  # row 10 may exist: only the database knows
    assert recent.after(12, 100) is None  # what came after 12 was never read here
    assert recent.after(20, 100) is None
    assert RecentRows().after(0, 100) is None


def test_a_gap_between_kept_reads_ends_what_is_taken() -> None:
    recent = RecentRows()
    recent.keep(0, rows(1, 2))
    recent.keep(5, rows(6, 7))  # rows 3 to 5 were read by nobody here

    assert positions(recent.after(0, 100)) == [1, 2]
    assert positions(recent.after(5, 100)) == [6, 7]


def test_a_read_again_from_further_back_is_found_among_newer_ones() -> None:
    recent = RecentRows()
    recent.keep(0, rows(1, 2, 3))
    recent.keep(3, rows(4))
    recent.keep(1, rows(2, 3, 4, 5))  # a worker that started again from position 1

    assert positions(recent.after(3, 100)) == [4, 5]
    assert positions(recent.after(0, 100)) == [1, 2, 3, 4, 5]


def test_the_oldest_reads_go_when_the_budget_is_spent_but_never_the_newest() -> None:
    row_bytes = 100 + ROW_OVERHEAD_BYTES
    recent = RecentRows(budget=3 * row_bytes)
    recent.keep(0, rows(1, 2, size=100))
    recent.keep(2, rows(3, 4, size=100))

    assert recent.after(0, 100) is None
    assert positions(recent.after(2, 100)) == [3, 4]

    recent.keep(4, rows(5, 6, 7, 8, size=100))  # alone over the budget: kept
    assert recent.after(2, 100) is None
    assert positions(recent.after(4, 100)) == [5, 6, 7, 8]
