"""Waiting for something to come true, with a deadline.

``wait_until`` polls a check until it gives something true and fails with a message
naming what did not happen; a check may itself assert, to fail early on a problem
(a process that exited, a sender that crashed). ``poll_until`` is the same loop for
callers that want to know whether it came true rather than to fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

POLL_SECONDS = 0.05
T = TypeVar("T")


def poll_until(check: Callable[[], T], seconds: float, *, every: float = POLL_SECONDS) -> T:
    """Call ``check`` every ``every`` seconds until it gives something true, for at most
    ``seconds``; what it gave last (false when the time ran out)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(every)


def wait_until(
    check: Callable[[], T],
    seconds: float,
    what: str | Callable[[], str],
    *,
    every: float = POLL_SECONDS,
) -> T:
    """Call ``check`` until it gives something true, and give that; fail after ``seconds``
    with ``what`` (a text, or a function that writes it then) did not happen."""
    found = poll_until(check, seconds, every=every)
    if not found:
        message = what() if callable(what) else what
        raise AssertionError(f"not within {seconds:g} s: {message}")
    return found
