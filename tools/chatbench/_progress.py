"""A one-line progress display on stderr, so a long run shows what it is doing.

On a terminal the line is redrawn in place (at most ten times a second);
into a file or a pipe each phase is written once, as a plain line, so a log
of the run stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24
REDRAW_EVERY = 0.1


class ProgressBar:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._label = ""
        self._total: float | None = None
        self._done = 0.0
        self._until_ns: int | None = None
        self._since_ns = 0
        self._count: int | None = None
        self._unit = ""
        self._drawn = 0.0
        self._width = 0

    def phase(self, label: str, *, total: float | None = None, until_ns: int | None = None, unit: str = "") -> None:
        """Start a phase: counted up to `total`, or timed until `until_ns` (monotonic)."""
        self._label, self._total, self._done = label, total, 0.0
        self._until_ns, self._since_ns = until_ns, time.monotonic_ns()
        self._count, self._unit = None, unit
        if self._tty:
            self._draw(force=True)
        else:
            print(f"chatbench: {label}", file=self._stream, flush=True)

    def update(self, done: float) -> None:
        self._done = done
        self._draw()

    def count(self, count: int) -> None:
        """A running count shown beside the bar (messages delivered so far, say)."""
        self._count = count
        self._draw()

    def note(self, text: str) -> None:
        """A line that stays."""
        self.clear()
        print(text, file=self._stream, flush=True)
        if self._label:
            self._draw(force=True)

    def clear(self) -> None:
        if self._tty and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0

    def close(self) -> None:
        self.clear()
        self._label = ""

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._tty or (not force and now - self._drawn < REDRAW_EVERY):
            return
        self._drawn = now
        fraction = self._fraction()
        if fraction is None:
            bar = ""
        else:
            filled = int(round(fraction * WIDTH))
            bar = f" [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction * 100:3.0f}%"
        detail = ""
        if self._total is not None:
            detail = f" {self._done:,.0f}/{self._total:,.0f}"
        if self._count is not None:
            detail += f" {self._count:,} {self._unit}".rstrip()
        line = f"chatbench: {self._label}{bar}{detail}"
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def _fraction(self) -> float | None:
        if self._total:
            return min(1.0, self._done / self._total)
        if self._until_ns is not None:
            span = self._until_ns - self._since_ns
            return 1.0 if span <= 0 else min(1.0, max(0.0, (time.monotonic_ns() - self._since_ns) / span))
        return None
