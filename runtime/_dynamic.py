"""`DynamicSupervisor`: OTP's simple_one_for_one, children of one kind started on demand."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import trio

from ._child import Child, Restart, stop_child
from ._errors import TooManyChildren
from ._supervisor import SupervisorBase


class DynamicSupervisor(SupervisorBase):
    """Starts `start(*args, task_status=...)` per `start_child(*args)`, e.g. one per connection.

    Children restart alone (one_for_one) per `restart`, with the same args;
    a child that is not restarted is forgotten. At most `max_children` run at
    once: more is a defined error, not an unbounded set. Stopping stops all
    children concurrently (they are peers, with no order), each within
    `shutdown` seconds.
    """

    def __init__(
        self,
        name: str,
        start: Callable[..., Awaitable[object]],
        *,
        restart: Restart = Restart.TEMPORARY,
        shutdown: float = 5.0,
        max_children: int = 100_000,
        intensity: int = 3,
        period: float = 5.0,
    ) -> None:
        super().__init__(name, intensity, period)
        self._template = start
        self._restart_type = restart
        self._shutdown = shutdown
        self._max_children = max_children
        self._started = 0

    def __len__(self) -> int:
        return len(self._children)

    async def start_child(self, *args: object) -> object:
        """Start one child; returns what it handed to `task_status.started()`.

        Raises whatever the child raised before it was initialised, or
        `TooManyChildren`, or `RuntimeError` if the supervisor is not running.
        """
        if self._nursery is None or self._stop_requested:
            raise RuntimeError(f"dynamic supervisor {self.name!r} is not running")
        if len(self._children) >= self._max_children:
            raise TooManyChildren(self.name, self._max_children)
        self._started += 1
        child = Child(
            f"{self.name}[{self._started}]",
            functools.partial(self._template, *args),
            self._restart_type,
            self._shutdown,
        )
        self._children[child] = None
        try:
            return await self._start(child)
        except BaseException:
            del self._children[child]
            raise

    async def run(
        self, *, task_status: trio.TaskStatus[DynamicSupervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if self._nursery is not None:
            raise RuntimeError(f"dynamic supervisor {self.name!r} is already running")
        self._children = {}
        self._intensity.reset()
        self._exits.clear()
        self._stop_requested = False
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started(self)
                failure = await self._supervise()
                await self._stop_all()
        finally:
            self._nursery = None
            self._children = {}
        if failure is not None:
            raise failure

    def _group(self, child: Child) -> list[Child]:
        return [child]

    def _not_restarted(self, child: Child) -> None:
        del self._children[child]

    async def _stop_all(self) -> None:
        self._stop_requested = True
        async with trio.open_nursery() as nursery:
            for child in self._children:
                nursery.start_soon(stop_child, child, self.name)
