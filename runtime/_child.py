"""One supervised child: how it runs, how its exit is classified, how it is stopped."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Awaitable, Callable

import trio
from attrs import define, field

from ._actor import Stoppable
from ._errors import SupervisorGaveUp

logger = logging.getLogger("runtime.supervisor")


class Restart(enum.Enum):
    """When a child that exited is started again (OTP's restart types)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a crash (an exception); a return is final
    TEMPORARY = "temporary"  # never; the child is forgotten when it exits

    def wanted(self, crash: BaseException | None) -> bool:
        return self is Restart.PERMANENT or (self is Restart.TRANSIENT and crash is not None)


@define(eq=False)
class Child:
    """A child slot and its current incarnation.

    `generation` grows with every start, so an exit reported by an incarnation
    that a group restart already replaced is recognised and ignored.
    """

    name: str
    start: Callable[..., Awaitable[object]]
    restart: Restart
    shutdown: float
    generation: int = 0
    running: bool = False
    stopping: bool = False
    value: object = None
    crash: Exception | None = None
    scope: trio.CancelScope = field(factory=trio.CancelScope)
    done: trio.Event = field(factory=trio.Event)
    #: Once started, shielded from its supervisor's own cancellation: then
    #: the supervisor cancels it, in the order it chooses (`cancel_child`).
    ordered: bool = False


class _Status:
    """Forwards `started()` and remembers it: an exception before it is a start failure."""

    __slots__ = ("_inner", "_child", "called")

    def __init__(self, inner: trio.TaskStatus[object], child: Child) -> None:
        self._inner = inner
        self._child = child
        self.called = False

    def started(self, value: object = None) -> None:
        self.called = True
        child = self._child
        child.value = value
        child.running = True
        self._inner.started(value)
        # Only now the supervisor's child: a start that hangs (a store that
        # is down) must still end when its supervisor is cancelled. Nor if
        # that cancellation came first: trio then leaves the child where it
        # started, to end by it.
        if child.ordered and trio.current_effective_deadline() != -math.inf:
            child.scope.shield = True


async def run_child(
    child: Child,
    owner: str,
    on_exit: Callable[[Child, int], None],
    *,
    task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The task of one incarnation; for `nursery.start`, returns what the child started with.

    A crash is logged here, once, whoever handles it. Cancellation by the
    child's own scope is a shutdown, never a crash; any other cancellation
    propagates untouched.
    """
    generation = child.generation
    status = _Status(task_status, child)
    try:
        with child.scope:
            await child.start(task_status=status)
    except Exception as exc:
        if not status.called:
            raise  # a start failure: `nursery.start` raises it in the starter
        child.crash = exc
        if isinstance(exc, SupervisorGaveUp):
            logger.error("%s: child %r gave up: %s", owner, child.name, exc)
        else:
            logger.error("%s: child %r (%r) crashed", owner, child.name, child.value, exc_info=exc)
    finally:
        child.running = False
        child.done.set()
    if status.called:
        on_exit(child, generation)


def prepare(child: Child) -> None:
    """Fresh per-incarnation state before a start."""
    child.generation += 1
    child.stopping = False
    child.value = None
    child.crash = None
    child.scope = trio.CancelScope()
    child.done = trio.Event()


async def stop_child(child: Child, owner: str) -> None:
    """Stop gracefully if the child is `Stoppable`, else (or after `shutdown` s) cancel it."""
    if child.generation == 0 or child.done.is_set():
        return  # never started (an earlier sibling failed to start), or ended
    child.stopping = True
    value = child.value
    if isinstance(value, Stoppable):
        value.request_stop()
        with trio.move_on_after(child.shutdown):
            await child.done.wait()
        if child.done.is_set():
            return
        logger.warning(
            "%s: child %r still running %s s after a stop request, cancelling it",
            owner,
            child.name,
            child.shutdown,
        )
    await cancel_child(child)


async def cancel_child(child: Child) -> None:
    """Cancel the child, if it runs, and wait until it has ended."""
    if child.generation == 0 or child.done.is_set():
        return
    child.stopping = True
    child.scope.cancel()
    await child.done.wait()
