"""A progress bar on a text stream (standard library only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """``label [#########.........]  45%  12,345/27,000`` redrawn in place (carriage return)
    at most every ``interval`` seconds, and once more when closed. Draws nothing unless
    ``enabled``."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        label: str,
        *,
        enabled: bool = True,
        width: int = 30,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.enabled = enabled
        self.width = width
        self.interval = interval
        self.clock = clock
        self.done = 0
        self._drawn_at: float | None = None

    def advance(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if self._drawn_at is None or now - self._drawn_at >= self.interval:
            self._draw()
            self._drawn_at = now

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        share = min(max(share, 0.0), 1.0)
        filled = round(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return f"{self.label} [{bar}] {share:4.0%}  {self.done:,}/{self.total:,}"

    def _draw(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line())
            self.stream.flush()
