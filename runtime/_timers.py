"""`Timers`: deliver a message to an actor later (Erlang's `send_after`).

Actors own no task, so they cannot sleep; they ask the node's one timer
service to tell them something at a time instead. One task and one heap
serve every timer, so a hundred thousand pending timers cost a heap entry
each, not a task each. Times are Trio's clock, so tests run them on a
virtual clock.
"""

from __future__ import annotations

import heapq
import itertools
import logging

import trio
from attrs import define, field

from ._actor import ActorRef
from ._errors import ActorDead, MailboxFull

logger = logging.getLogger("runtime.timers")

#: A timer whose actor's mailbox is full tries again this much later: the
#: message matters (a deadline), and a full mailbox drains in milliseconds.
RETRY_FULL_MAILBOX = 0.05


#: The heap is rebuilt without cancelled timers once they are the majority
#: and at least this many, so set-and-cancel churn (a user flapping) cannot
#: grow it beyond twice the live timers.
COMPACT_AFTER = 1024


@define(eq=False)
class Timer:
    """A pending delivery; `cancel()` it to make sure it never happens."""

    ref: ActorRef
    message: object
    _service: Timers
    cancelled: bool = field(default=False)

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._service._cancelled_one()


class Timers:
    def __init__(self, name: str = "timers") -> None:
        self.name = name
        # (deadline, tie-breaker, timer): the tie-breaker keeps equal
        # deadlines in the order they were set, and timers never compared.
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._wakeup: trio.Event | None = None
        self._running = False
        self._cancelled = 0  # cancelled timers still in the heap

    def __len__(self) -> int:
        """Pending timers, cancelled ones included until their time comes."""
        return len(self._heap)

    def send_after(self, delay: float, ref: ActorRef, message: object) -> Timer:
        """Tell `message` to `ref` in `delay` seconds, without waiting on its mailbox."""
        if not self._running:
            raise RuntimeError(f"timer service {self.name!r} is not running")
        timer = Timer(ref, message, self)
        self._push(trio.current_time() + max(delay, 0.0), timer)
        return timer

    async def run(self, *, task_status: trio.TaskStatus[Timers] = trio.TASK_STATUS_IGNORED) -> None:
        self._running = True
        try:
            task_status.started(self)
            while True:
                await self._fire_due()
        finally:
            self._running = False
            self._heap.clear()
            self._cancelled = 0

    def _cancelled_one(self) -> None:
        self._cancelled += 1
        if self._cancelled >= COMPACT_AFTER and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _push(self, deadline: float, timer: Timer) -> None:
        first = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (deadline, next(self._order), timer))
        if (first is None or deadline < first) and self._wakeup is not None:
            self._wakeup.set()

    async def _fire_due(self) -> None:
        heap = self._heap
        now = trio.current_time()
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                self._cancelled -= 1
            else:
                self._deliver(timer, now)
        self._wakeup = wakeup = trio.Event()
        with trio.move_on_at(heap[0][0] if heap else float("inf")):
            await wakeup.wait()
        self._wakeup = None

    def _deliver(self, timer: Timer, now: float) -> None:
        try:
            timer.ref.tell_nowait(timer.message)
        except MailboxFull:
            self._push(now + RETRY_FULL_MAILBOX, timer)
        except ActorDead:
            logger.debug("%s: %r is gone, timer dropped", self.name, timer.ref.key)
