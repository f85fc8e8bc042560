"""OTP supervisors: a static tree (`Supervisor`) and its restart machinery."""

from __future__ import annotations

import abc
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import trio
from attrs import field, frozen

from ._child import Child, Restart, cancel_child, prepare, run_child, stop_child
from ._errors import SupervisorGaveUp
from ._intensity import RestartIntensity

logger = logging.getLogger("runtime.supervisor")


class Strategy(enum.Enum):
    """Which children restart with a crashed one (OTP's strategies)."""

    ONE_FOR_ONE = "one_for_one"  # only the child itself
    ONE_FOR_ALL = "one_for_all"  # all children: stopped newest first, started in order
    REST_FOR_ONE = "rest_for_one"  # the child and those started after it


@frozen
class ChildSpec:
    """How to start one child: `start(task_status=...)`, as for `nursery.start`.

    The value the child hands to `task_status.started()` is what the supervisor
    reports for it; if it is `Stoppable`, stopping asks it first and cancels only
    after `shutdown` seconds.
    """

    name: str
    start: Callable[..., Awaitable[object]]
    restart: Restart = Restart.PERMANENT
    shutdown: float = field(default=5.0)

    @shutdown.validator
    def _check_shutdown(self, _attribute: object, value: float) -> None:
        if value < 0:
            raise ValueError("shutdown must be >= 0")


@frozen
class ChildInfo:
    name: str
    restart: Restart
    running: bool
    value: object


class SupervisorBase(abc.ABC):
    """Runs children in a nursery, restarts them per their restart type, and
    gives up after too many restarts. Subclasses choose which children restart
    together (`_group`), and how everything stops (`_stop_all`).
    """

    def __init__(self, name: str, intensity: int, period: float) -> None:
        self.name = name
        self._intensity = RestartIntensity(intensity, period)
        self._nursery: trio.Nursery | None = None
        # Bounded: each child incarnation reports at most one exit.
        self._exits: deque[tuple[Child, int]] = deque()
        self._wakeup = trio.Event()
        self._stop_requested = False
        # Insertion-ordered: start order. A dict, so dynamic children leave in O(1).
        self._children: dict[Child, None] = {}

    @property
    def running(self) -> bool:
        return self._nursery is not None

    def request_stop(self) -> None:
        """Stop all children (see `_stop_all`) and return from `run` normally."""
        self._stop_requested = True
        self._wakeup.set()

    def which_children(self) -> list[ChildInfo]:
        return [ChildInfo(c.name, c.restart, c.running, c.value) for c in self._children]

    async def _start(self, child: Child) -> object:
        assert self._nursery is not None
        prepare(child)
        return await self._nursery.start(run_child, child, self.name, self._exited)

    def _exited(self, child: Child, generation: int) -> None:
        if not child.stopping:
            self._exits.append((child, generation))
            self._wakeup.set()

    async def _supervise(self) -> SupervisorGaveUp | None:
        """Handle exits until a stop is requested (None) or restarts are exhausted."""
        while True:
            while not self._exits and not self._stop_requested:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
            if self._stop_requested:
                return None
            child, generation = self._exits.popleft()
            if child.generation != generation or child not in self._children:
                continue  # that incarnation was already replaced by a group restart
            if not child.restart.wanted(child.crash):
                self._not_restarted(child)
                continue
            failure = self._count_restart(child.crash)
            if failure is None:
                failure = await self._restart(self._group(child))
            if failure is not None:
                return failure

    def _count_restart(self, reason: BaseException | None) -> SupervisorGaveUp | None:
        if not self._intensity.add(trio.current_time()):
            return None
        logger.error(
            "%s: more than %d restarts within %s s, giving up",
            self.name,
            self._intensity.intensity,
            self._intensity.period,
        )
        failure = SupervisorGaveUp(self.name, self._intensity.intensity, self._intensity.period)
        failure.__cause__ = reason
        return failure

    async def _restart(self, group: list[Child]) -> SupervisorGaveUp | None:
        """Stop `group` newest first, drop its temporary children, start the rest in order.

        A start that fails counts as one more restart, and the group is tried again.
        """
        while True:
            for child in reversed(group):
                await stop_child(child, self.name)
            for child in group:
                if child.restart is Restart.TEMPORARY:
                    del self._children[child]
            group = [c for c in group if c.restart is not Restart.TEMPORARY]
            try:
                for child in group:
                    logger.info("%s: starting child %r again", self.name, child.name)
                    await self._start(child)
            except Exception as exc:
                logger.error("%s: restart of %r failed", self.name, child.name, exc_info=exc)
                failure = self._count_restart(exc)
                if failure is not None:
                    return failure  # `run` stops everything, this group included
            else:
                return None

    @abc.abstractmethod
    def _group(self, child: Child) -> list[Child]:
        """The children that restart with `child`, in start order."""

    @abc.abstractmethod
    def _not_restarted(self, child: Child) -> None:
        """`child` exited and its restart type says it stays down."""

    @abc.abstractmethod
    async def _stop_all(self) -> None:
        """Stop every child (on a stop request or on giving up)."""


class Supervisor(SupervisorBase):
    """A static list of children, started in order and stopped in reverse.

    `run` returns once every child is initialised (each child's start returned);
    if a child fails to start, those started are stopped and `run` raises that
    error. More than `intensity` restarts within `period` seconds: every child
    is stopped, newest first, and `run` raises `SupervisorGaveUp` to the parent.
    `request_stop()` stops the children newest first, each within its
    `shutdown`, and `run` returns. Cancelling `run` cancels the children
    newest first, each once the ones after it have ended, with no graceful
    stop: so even "stop now" never leaves a child running without the
    siblings started before it, which it may depend on (OTP's shutdown order).
    """

    def __init__(
        self,
        name: str,
        strategy: Strategy,
        children: Sequence[ChildSpec],
        *,
        intensity: int = 3,
        period: float = 5.0,
    ) -> None:
        names = [spec.name for spec in children]
        if len(set(names)) != len(names):
            raise ValueError(f"supervisor {name!r}: child names must be unique: {names}")
        super().__init__(name, intensity, period)
        self.strategy = strategy
        self._specs = tuple(children)

    async def run(self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED) -> None:
        if self._nursery is not None:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._children = {Child(s.name, s.start, s.restart, s.shutdown, ordered=True): None for s in self._specs}
        self._intensity.reset()
        self._exits.clear()
        self._stop_requested = False
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    failure = await self._start_and_supervise(task_status)
                    await self._stop_all()
                finally:
                    await self._cancel_newest_first()
        finally:
            self._nursery = None
        if failure is not None:
            raise failure

    async def _start_and_supervise(self, task_status: trio.TaskStatus[Supervisor]) -> Exception | None:
        """Start the children in order, then supervise them: the failure to raise, if any."""
        try:
            for child in list(self._children):
                await self._start(child)
        except Exception as exc:
            # One line: the error itself, with its traceback, goes to
            # whoever started this supervisor.
            logger.error("%s: child %r failed to start: %s: %s", self.name, child.name, type(exc).__name__, exc)
            return exc
        task_status.started(self)
        return await self._supervise()

    async def _cancel_newest_first(self) -> None:
        """Children still running here were not stopped because `run` was
        cancelled (or failed): they are shielded from that, and end here."""
        with trio.CancelScope(shield=True):
            try:
                for child in reversed(list(self._children)):
                    await cancel_child(child)
            except BaseException:
                # Interrupted (KeyboardInterrupt): no child may stay shielded.
                for child in self._children:
                    child.scope.cancel()
                raise

    def _group(self, child: Child) -> list[Child]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if self.strategy is Strategy.ONE_FOR_ALL:
            return list(self._children)
        children = list(self._children)
        return children[children.index(child) :]

    def _not_restarted(self, child: Child) -> None:
        # OTP keeps a transient child that ended normally (a group restart starts
        # it again) but forgets a temporary one.
        if child.restart is Restart.TEMPORARY:
            del self._children[child]

    async def _stop_all(self) -> None:
        for child in reversed(list(self._children)):
            await stop_child(child, self.name)
