"""Ask timeouts without a cancel scope per ask.

A Trio cancel scope costs about as much as a whole task switch, which would be
a third of an ask round trip. Instead, pending asks sit in buckets of 10 ms on
a timer wheel served by one system task per Trio run: a reply removes its slot
from its bucket in O(1), and the timer wakes only for buckets that still hold
someone when their time comes.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._cell import Ask

RESOLUTION = 0.01  # seconds; ask timeouts are rounded up to this


class Expired(Exception):
    """Raised into an asker whose deadline passed; `ask` turns it into `AskTimeout`."""


class Wheel:
    """Invariants: every key of `buckets` is in `ticks` (a heap) exactly once, and
    the timer's scope deadline is the smallest tick (or +inf without any)."""

    def __init__(self) -> None:
        self.buckets: dict[int, set[Ask]] = {}
        self.ticks: list[int] = []
        self.scope = trio.CancelScope()
        self.target = math.inf

    def add(self, slot: Ask, deadline: float) -> None:
        """Fail `slot`'s asker with `Expired` at `deadline` unless it is resolved first."""
        tick = math.ceil(deadline / RESOLUTION)
        bucket = self.buckets.get(tick)
        if bucket is None:
            bucket = self.buckets[tick] = set()
            heapq.heappush(self.ticks, tick)
            if tick < self.target:
                self.target = tick
                self.scope.deadline = tick * RESOLUTION
        bucket.add(slot)
        slot.bucket = bucket

    async def run(self) -> None:
        while True:
            with self.scope:
                await trio.sleep_forever()
            self._fire(trio.current_time())

    def _fire(self, now: float) -> None:
        # A function of its own, so no slot outlives it in a local variable.
        ticks = self.ticks
        while ticks and ticks[0] * RESOLUTION <= now:
            for slot in self.buckets.pop(heapq.heappop(ticks)):
                slot.expire()
        self.target = ticks[0] if ticks else math.inf
        self.scope = trio.CancelScope(deadline=self.target * RESOLUTION)


_WHEEL: trio.lowlevel.RunVar[Wheel] = trio.lowlevel.RunVar("runtime.deadlines")


def current_wheel() -> Wheel:
    """This Trio run's wheel. Owners of cells look it up once, so an ask does not."""
    try:
        return _WHEEL.get()
    except LookupError:
        wheel = Wheel()
        _WHEEL.set(wheel)
        trio.lowlevel.spawn_system_task(wheel.run, name="runtime.deadlines")
        return wheel

