"""Hosting one actor outside a registry.

Two ways, with the same semantics: `serve_actor` runs it in the calling task
(a supervisor's child), `spawn_actor` in tasks of a nursery that exist only
while it has mail, so that an idle actor costs its cell and no task.
"""

from __future__ import annotations

import contextvars
from collections.abc import Hashable
from functools import partial

import trio

from ._actor import Actor
from ._cell import Cell
from ._deadlines import current_wheel
from ._errors import ActorCrashed, ActorDead
from ._ref import LocalRef


async def _run(cell: Cell) -> bool:
    """Drain `cell`: True once it is idle again, False once it stopped (after `stopping()`).

    Whatever ends the actor kills the cell before it propagates: a crash fails
    the waiting senders with `ActorCrashed`, a cancellation with `ActorDead`.
    """
    try:
        # A task started in a nursery already cancelled must not run a message.
        await trio.lowlevel.checkpoint_if_cancelled()
        await cell.drain()
        if cell.settle():
            return True
        assert cell.actor is not None
        await cell.actor.stopping()
    except Exception as exc:
        cell.die(partial(ActorCrashed, cell.key, exc))
        raise
    except BaseException:
        cell.die(partial(ActorDead, cell.key))
        raise
    cell.die(partial(ActorDead, cell.key))
    return False


async def _start(actor: Actor, key: Hashable, mailbox_size: int, owner: _Host | _Spawner) -> Cell:
    """The actor's idle cell, after `started()`: no ref to it exists before that."""
    if mailbox_size < 1:
        raise ValueError("mailbox_size must be at least 1")
    cell = Cell(key, mailbox_size, owner)
    cell.actor = actor
    await actor.started()
    return cell


class _Host:
    """`serve_actor`'s owner: wakes the hosting task when the idle cell gets mail."""

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
    host = _Host()
    cell = await _start(actor, key, mailbox_size, host)
    cell.busy = True  # not idle until the first park below
    task_status.started(LocalRef(key, None, cell))
    while await _run(cell):
        host.task = trio.lowlevel.current_task()
        try:
            await trio.lowlevel.wait_task_rescheduled(host.abort)
        except BaseException:
            cell.die(partial(ActorDead, key))
            raise


class _Spawner:
    """`spawn_actor`'s owner: starts a drain task in its nursery when the idle cell gets mail."""

    __slots__ = ("nursery", "context", "wheel")

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        # Drain tasks are started by whichever task sent the message; give them
        # the spawner's context instead of that sender's context variables.
        self.context = contextvars.copy_context()
        self.wheel = current_wheel()

    def schedule(self, cell: Cell) -> None:
        try:
            self.context.run(self.nursery.start_soon, _run, cell)
        except RuntimeError:
            # The nursery closed while the actor was idle, so the actor ended
            # with it; `offer` sees the dead cell and tells the sender.
            cell.die(partial(ActorDead, cell.key))


async def spawn_actor(nursery: trio.Nursery, actor: Actor, *, key: Hashable, mailbox_size: int = 64) -> LocalRef:
    """Run `started()`, then host `actor` in `nursery` with no task while its mailbox is empty.

    The first message after an idle spell starts one task in `nursery`; it
    drains the mailbox and ends when it is empty. Semantics as `serve_actor`'s:
    a crash fails the waiting senders with `ActorCrashed` and propagates into
    `nursery`; `ref.request_stop()` lets the current message finish and runs
    `stopping()`; cancelling the nursery stops the actor without `stopping()`
    and its waiting senders get `ActorDead`. An actor that was idle when its
    nursery closed is dead from then on: the next message sent to it raises
    `ActorDead` (and only then does `ref.alive` turn False).
    """
    cell = await _start(actor, key, mailbox_size, _Spawner(nursery))
    return LocalRef(key, None, cell)
