"""`LocalRef`: the ref to an actor in this process."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

import trio

from ._actor import ActorRef
from ._cell import DEAD_CELL, FINAL, MESSAGE_TYPES, Ask, Cell, check_message
from ._deadlines import Expired
from ._errors import ActorDead, AskTimeout, MailboxFull


class Home(Protocol):
    """Where a ref finds a fresh cell once its cached one died (a registry)."""

    @property
    def running(self) -> bool: ...

    def cell_for(self, key: Hashable) -> Cell:
        """The key's live cell, created on first use. Raises `ActorDead` when not running."""
        ...

    def passivate(self, key: Hashable) -> None:
        """Stop the key's instance after its current message, if one is active."""
        ...


class LocalRef(ActorRef):
    """A ref to a hosted actor (`home` None) or to a registry key.

    A registry ref caches the key's cell and goes back to the registry only when
    that cell died (passivated, crashed, or the registry restarted), so the
    common send costs one attribute read and no dict lookup.
    """

    __slots__ = ("_key", "_home", "_cell")

    def __init__(self, key: Hashable, home: Home | None, cell: Cell = DEAD_CELL) -> None:
        self._key = key
        self._home = home
        self._cell = cell

    @property
    def key(self) -> Hashable:
        return self._key

    @property
    def alive(self) -> bool:
        """Hosted: the actor has not stopped. Registry: the registry runs (any key can be activated)."""
        if self._home is None:
            return not self._cell.dead
        return self._home.running

    def _resolve(self) -> Cell:
        """The cached cell died: a hosted actor is gone for good, a registry key gets a fresh cell."""
        if self._home is None:
            raise ActorDead(self._key)
        cell = self._cell = self._home.cell_for(self._key)
        return cell

    # The three sends inline the message check and the cell lookup: they are the
    # hot path of the whole system, and a call costs as much as either check.

    async def tell(self, message: object) -> None:
        if type(message) not in MESSAGE_TYPES:
            check_message(message)
        cell = self._cell
        if cell.dead:
            cell = self._resolve()
        # A cancellation point always, a schedule point only when the mailbox is
        # full: a producer runs ahead until the mailbox fills, then the actor
        # drains it in one go. That is what makes a tell cost no task switch.
        await trio.lowlevel.checkpoint_if_cancelled()
        if not cell.offer(message):
            await cell.wait_to_put(message)

    def tell_nowait(self, message: object) -> None:
        if type(message) not in MESSAGE_TYPES:
            check_message(message)
        cell = self._cell
        if cell.dead:
            cell = self._resolve()
        if not cell.offer(message):
            raise MailboxFull(self._key, cell.capacity, None if cell.cost is None else cell.budget)

    async def ask(self, message: object, timeout: float) -> object:
        if type(message) not in MESSAGE_TYPES:
            check_message(message)
        cell = self._cell
        if cell.dead:
            cell = self._resolve()
        await trio.lowlevel.checkpoint_if_cancelled()
        deadline = trio.current_time() + timeout
        slot = Ask(message)
        if not cell.offer(slot):
            # Rare (mailbox full), so a cancel scope is affordable here.
            with trio.CancelScope(deadline=deadline) as scope:
                await cell.wait_to_put(slot)
            if scope.cancelled_caught:
                raise AskTimeout(self._key, timeout)
            result = slot.result
            if result is not None:  # answered before this task ran again
                slot.result = None
                slot.abandoned = True
                return result.unwrap()
        cell.owner.wheel.add(slot, deadline)
        slot.task = trio.lowlevel.current_task()
        try:
            return await trio.lowlevel.wait_task_rescheduled(slot.abort)
        except Expired:
            raise AskTimeout(self._key, timeout) from None

    def request_stop(self) -> None:
        """Stop the actor after its current message, running `stopping()`.

        Hosted actor: it stops for good (its host returns). Registry key: the
        instance is passivated now; the next message activates a fresh one.
        A key that is not active is left alone.
        """
        if self._home is None:
            self._cell.request_stop(FINAL)
        else:
            self._home.passivate(self._key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalRef):
            return NotImplemented
        if self._home is None:
            return self._cell is other._cell
        return self._home is other._home and self._key == other._key

    def __hash__(self) -> int:
        if self._home is None:
            return id(self._cell)
        return hash((id(self._home), self._key))

    def __repr__(self) -> str:
        return f"<LocalRef {self._key!r}{'' if self.alive else ' dead'}>"
