"""The rate limiter spaces calls out, on a clock of the test's own."""

from __future__ import annotations

import pytest

from adapters.rate_limit import RateLimiter


class FakeClock:
    """A monotonic clock that moves only when slept on or told to."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(per_minute: float, clock: FakeClock) -> RateLimiter:
    return RateLimiter(per_minute, clock=clock, sleep=clock.sleep)


def test_the_first_call_goes_at_once() -> None:
    clock = FakeClock()

    assert limiter(30, clock).wait() == 0
    assert clock.slept == []


def test_calls_in_a_row_are_spaced_by_a_minute_over_the_rate() -> None:
    clock = FakeClock()
    pacing = limiter(30, clock)

    waits = [pacing.wait() for _ in range(4)]

    assert waits == [0, 2.0, 2.0, 2.0]
    assert clock.now == 106.0


def test_time_spent_between_calls_counts_towards_the_spacing() -> None:
    clock = FakeClock()
    pacing = limiter(60, clock)
    pacing.wait()

    clock.now += 0.25
    assert pacing.wait() == pytest.approx(0.75)
    clock.now += 5
    assert pacing.wait() == 0


def test_no_minute_holds_more_calls_than_the_rate() -> None:
    clock = FakeClock()
    pacing = limiter(10, clock)
    starts = []
    for _ in range(35):
        pacing.wait()
        starts.append(clock.now)

    busiest = max(sum(1 for t in starts if s <= t < s + 60) for s in starts)

    assert busiest == 10


def test_an_idle_spell_saves_up_no_burst() -> None:
    clock = FakeClock()
    pacing = limiter(60, clock)
    pacing.wait()
    clock.now += 600

    assert [pacing.wait() for _ in range(3)] == [0, 1.0, 1.0]


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(rate)


def test_it_says_its_rate() -> None:
    assert repr(RateLimiter(30)) == "RateLimiter(per_minute=30)"
    assert RateLimiter(30).interval == 2.0
