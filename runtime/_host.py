"""`serve_actor`: run one actor in the calling task, e.g. as a supervisor's child."""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial

import trio

from ._actor import Actor
from ._cell import Cell
from ._deadlines import current_wheel
from ._errors import ActorCrashed, ActorDead
from ._ref import LocalRef


class _Host:
    """The cell's owner: wakes the hosting task when the idle cell gets mail."""

    __slots__ = ("task", "wheel")

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None
        self.wheel = current_wheel()

    def schedule(self, cell: Cell) -> None:
        task, self.task = self.task, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


async def serve_actor(
    actor: Actor,
    *,
    key: Hashable,
    mailbox_size: int = 64,
    task_status: trio.TaskStatus[LocalRef] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `actor` until it is stopped; hand its ref to `task_status.started()`.

    Made for `nursery.start`, `ChildSpec` and `DynamicSupervisor`: start returns
    once `started()` has run. Under a supervisor, build `actor` inside the start
    function, so that a restart gets a fresh instance rather than the crashed one. The ref is `Stoppable`: `ref.request_stop()` lets
    the current message finish, runs `stopping()`, and returns. An exception
    from the actor fails its waiting senders with `ActorCrashed` and propagates,
    so the supervisor sees (and logs) the crash. On cancellation the actor stops
    at once, without `stopping()`, and its waiting senders get `ActorDead`.
    """
    if mailbox_size < 1:
        raise ValueError("mailbox_size must be at least 1")
    host = _Host()
    cell = Cell(key, mailbox_size, host)
    cell.actor = actor
    cell.busy = True  # not idle until the first park below
    try:
        await actor.started()
        task_status.started(LocalRef(key, None, cell))
        while True:
            await cell.drain()
            if not cell.settle():
                break
            host.task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(host.abort)
        await actor.stopping()
    except Exception as exc:
        cell.die(partial(ActorCrashed, key, exc))
        raise
    finally:
        cell.die(partial(ActorDead, key))
