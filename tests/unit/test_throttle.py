"""Failed authentications counted per source address and overall, without I/O."""

from __future__ import annotations

from app.config import FailureLimits
from app.service.throttle import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(
    per_client: int = 3, overall: int = 100, window: int = 60, max_clients: int = 1000
) -> tuple[FailureLimiter, Clock]:
    clock = Clock()
    limits = FailureLimits(per_client=per_client, overall=overall, window_seconds=window)
    return FailureLimiter(limits, max_clients=max_clients, clock=clock), clock


def test_an_address_may_try_until_it_reaches_its_limit() -> None:
    limits, _ = limiter(per_client=3)

    for _ in range(2):
        limits.failed("10.0.0.1")
        assert limits.retry_after("10.0.0.1") is None
    limits.failed("10.0.0.1")

    assert limits.retry_after("10.0.0.1") == 60
    assert limits.retry_after("10.0.0.2") is None


def test_the_wait_counts_down_and_ends_with_the_window() -> None:
    limits, clock = limiter(per_client=1, window=60)
    limits.failed("10.0.0.1")

    clock.now += 59.5
    assert limits.retry_after("10.0.0.1") == 1
    clock.now += 0.5
    assert limits.retry_after("10.0.0.1") is None
    limits.failed("10.0.0.1")
    assert limits.retry_after("10.0.0.1") == 60


def test_failures_from_every_address_add_up_to_the_overall_limit() -> None:
    limits, clock = limiter(per_client=100, overall=5, window=60)
    for number in range(5):
        clock.now += 1
        limits.failed(f"10.0.1.{number}")

    assert limits.retry_after("192.0.2.77") == 55
    clock.now += 55
    assert limits.retry_after("192.0.2.77") is None


def test_memory_stays_bounded_however_many_addresses_fail() -> None:
    limits, _ = limiter(per_client=2, overall=10**9, max_clients=100)
    for number in range(10_000):
        limits.failed(f"2001:db8::{number:x}")

    assert len(limits) == 100
    limits.failed("2001:db8::270f")
    assert limits.retry_after("2001:db8::270f") == 60


def test_ended_windows_are_forgotten() -> None:
    limits, clock = limiter(window=60)
    for number in range(50):
        limits.failed(f"10.0.2.{number}")
    clock.now += 61
    limits.failed("10.0.3.1")

    assert len(limits) == 1
