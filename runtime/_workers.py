"""A small, self-sizing pool of tasks that run registry cells.

Idle actors own no task; a cell with mail is queued here and a worker drains
it. Handing a cell to a parked worker is one `reschedule` (no task spawn), and
a worker keeps taking cells while there are any, so a burst of activations
needs about as many tasks as there are actors *waiting* inside `receive` at
once, plus one.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from ._cell import Cell
from ._deadlines import current_wheel
from ._errors import ActorDead

# Parked workers kept for reuse; more than this exit, so a burst's tasks go away.
_MAX_IDLE = 8
# Cells one worker runs in a row before letting other tasks in.
_FAIR_BATCH = 64


class _Parked:
    """A worker's entry in the idle list; `task` is None while it is not parked there."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None

    def abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


class WorkerPool:
    """Runs `run_cell(cell)` for every scheduled cell, in the given nursery.

    Invariant: while `runq` is non-empty, at least one worker is `waking`
    (spawned or rescheduled, and not yet looking at `runq`), so a queued cell
    never waits on workers that are all blocked inside some actor's `receive`.
    """

    def __init__(
        self, nursery: trio.Nursery, run_cell: Callable[[Cell], Awaitable[None]]
    ) -> None:
        self._nursery = nursery
        self._run_cell = run_cell
        self.wheel = current_wheel()
        self._runq: deque[Cell] = deque()
        self._idle: list[_Parked] = []
        self._waking = 0
        # Workers are spawned from whichever task sent the message; give them the
        # pool's own context instead of leaking that sender's context variables.
        self._context = contextvars.copy_context()

    def schedule(self, cell: Cell) -> None:
        self._runq.append(cell)
        if not self._waking:
            try:
                self._wake_one()
            except RuntimeError:
                # The nursery has closed: the registry is stopping, in the
                # moment before it kills its cells. They die now (`Owner`).
                self._waking = 0
                while self._runq:
                    queued = self._runq.popleft()
                    queued.die(partial(ActorDead, queued.key))

    def _wake_one(self) -> None:
        self._waking = 1
        idle = self._idle
        while idle:
            task = idle.pop().task  # the most recently parked worker is the warmest
            if task is not None:
                trio.lowlevel.reschedule(task)
                return
        self._context.run(self._nursery.start_soon, self._work)

    async def _work(self) -> None:
        runq = self._runq
        parked = _Parked()
        while True:
            self._waking -= 1
            ran = 0
            while runq:
                cell = runq.popleft()
                if runq and not self._waking:
                    self._wake_one()  # if this cell blocks, someone takes the rest
                await self._run_cell(cell)
                ran += 1
                if ran == _FAIR_BATCH:
                    ran = 0
                    await trio.lowlevel.checkpoint()
            if len(self._idle) >= _MAX_IDLE:
                return
            parked.task = trio.lowlevel.current_task()
            self._idle.append(parked)
            await trio.lowlevel.wait_task_rescheduled(parked.abort)
