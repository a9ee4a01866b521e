"""Progress of long commands: a bar with rate and ETA on a terminal, plain lines otherwise.

Plain lines come every few seconds, so a short run prints none.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

PLAIN_LINE_EVERY_SECONDS = 5.0


class ProgressReporter:
    """Takes (done, total) updates; draws them as a bar or prints a line now and then."""

    def __init__(self, terminal: bool, label: str = "replaying"):
        self.terminal = terminal
        self.label = label
        self.started = time.monotonic()
        self.last_line = time.monotonic()
        self.bar: Any = None
        self.shown = 0

    def _rate(self, done: int) -> float:
        elapsed = time.monotonic() - self.started
        return done / elapsed if elapsed > 0 else 0.0

    def _describe(self, _: int | None) -> str:
        return f"{self._rate(self.shown):,.0f} events/s"

    def update(self, done: int, total: int) -> None:
        if self.terminal:
            if self.bar is None:
                self.bar = click.progressbar(
                    length=max(total, 1),
                    label=self.label,
                    show_eta=True,
                    show_pos=True,
                    item_show_func=self._describe,
                    file=sys.stderr,
                )
                self.bar.__enter__()  # a bar that lives across calls
            self.bar.length = max(total, 1)
            self.bar.update(done - self.shown, current_item=done)
            self.shown = done
            return
        now = time.monotonic()
        if now - self.last_line >= PLAIN_LINE_EVERY_SECONDS:
            self.last_line = now
            click.echo(
                f"{self.label}: {done}/{total} events ({self._rate(done):,.0f} events/s)",
                err=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
