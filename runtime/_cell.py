"""The cell: one actor's bounded mailbox, its parked senders and the drain loop.

A cell owns no task. Its owner (a registry's worker pool, a hosting task, or
a task started per busy spell) runs `drain` only while the mailbox is
non-empty, which is what keeps an idle actor down to a few hundred bytes and
lets a burst of messages be processed without a task switch per message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Protocol

import attrs
import outcome
import trio

from . import _deadlines as deadlines
from ._actor import Actor
from ._errors import ActorDead, ActorError

# Messages processed in one drain before yielding to other tasks: Trio does not
# preempt, so a long mailbox must not starve the rest of the node.
_FAIR_BATCH = 64

RUNNING = 0
PASSIVATE = 1  # stop after the current message; queued messages go to a fresh instance
FINAL = 2  # stop after the current message; refuse and fail everything else

MESSAGE_TYPES: set[type] = set()  # attrs classes already checked


def check_message(message: object) -> None:
    """Refuse anything but attrs instances: no dicts or tuples as messages in the system."""
    cls = type(message)
    if not attrs.has(cls):
        raise TypeError(f"messages must be attrs instances, not {cls.__qualname__}")
    MESSAGE_TYPES.add(cls)


class Owner(Protocol):
    wheel: deadlines.Wheel  # where asks to its cells wait for their deadlines

    def schedule(self, cell: Cell) -> None:
        """Run `cell` soon: it was idle and now has a message or a stop request.

        An owner that can no longer run cells kills `cell` instead (`die`).
        """


class Ask:
    """The one-shot reply slot of an `ask`; it travels in the mailbox with the message.

    States: waiting (task set, in a deadline bucket), early (result set: the
    reply came while the asker was still being woken from a wait for mailbox
    space), abandoned (the asker left: a late reply is dropped here, so nothing
    is orphaned).
    """

    __slots__ = ("message", "task", "result", "abandoned", "bucket")

    def __init__(self, message: object) -> None:
        self.message = message
        self.task: trio.lowlevel.Task | None = None
        self.result: outcome.Outcome[object] | None = None
        self.abandoned = False
        self.bucket: set[Ask] | None = None

    def resolve(self, result: outcome.Outcome[object]) -> None:
        if self.abandoned:
            return
        task = self.task
        if task is None:
            self.result = result
            return
        self._leave()
        trio.lowlevel.reschedule(task, result)

    def expire(self) -> None:
        """The deadline passed (called by the timer, which already dropped the bucket)."""
        self.bucket = None
        task = self.task
        if task is not None:
            self._leave()
            trio.lowlevel.reschedule(task, outcome.Error(deadlines.Expired()))

    def abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self._leave()
        return trio.lowlevel.Abort.SUCCEEDED

    def _leave(self) -> None:
        self.task = None
        self.abandoned = True
        if self.bucket is not None:
            self.bucket.discard(self)
            self.bucket = None


class _Sender:
    """A task waiting for mailbox space, with the item it will hand over."""

    __slots__ = ("task", "item")

    def __init__(self, task: trio.lowlevel.Task, item: object) -> None:
        self.task: trio.lowlevel.Task | None = task
        self.item = item

    def abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


class Cell:
    """Everything one actor instance needs between messages.

    A mailbox holds at most `capacity` messages and, with a `cost`, at most
    `budget` of it (bytes, say: `cost(message)` must be a pure, cheap function
    of the message, as it is called when a message goes in and again when it
    comes out). A message that costs more than the whole budget still goes
    into an empty mailbox: a bound, never a wall.

    Invariants:
    - `busy` is True from the moment the owner is asked to run the cell until
      the owner finds it idle again; `schedule` is called only on False -> True.
    - parked senders exist only while the mailbox is non-empty and the next
      one does not fit: the drain lets in, in order, every parked sender that
      fits after each message it takes out, and a new message never passes a
      parked one, so order stays FIFO.
    - `used` is the cost of what `box` holds (0 without a `cost`).
    - `box` is None whenever the mailbox is empty and the cell is idle.
    """

    __slots__ = (
        "key",
        "capacity",
        "budget",
        "cost",
        "used",
        "owner",
        "actor",
        "box",
        "senders",
        "current",
        "busy",
        "dead",
        "stop",
        "idle_since",
    )

    def __init__(
        self,
        key: Hashable,
        capacity: int,
        owner: Owner,
        *,
        budget: int = 0,
        cost: Callable[[object], int] | None = None,
    ) -> None:
        self.key = key
        self.capacity = capacity
        self.budget = budget
        self.cost = cost
        self.used = 0
        self.owner = owner
        self.actor: Actor | None = None
        self.box: deque[object] | None = None
        self.senders: deque[_Sender] | None = None
        self.current: Ask | None = None
        self.busy = False
        self.dead = False
        self.stop = RUNNING
        self.idle_since = 0  # the registry's sweep count when the cell last went idle

    def offer(self, item: object) -> bool:
        """Queue `item` if there is room; False if the mailbox is full."""
        if self.dead or self.stop == FINAL:
            raise ActorDead(self.key)
        box = self.box
        if box is None:
            box = self.box = deque()
        elif len(box) >= self.capacity:
            return False
        if self.cost is not None:
            cost = self.cost(item.message if type(item) is Ask else item)
            if box and (self.senders or self.used + cost > self.budget):
                return False
            self.used += cost
        box.append(item)
        if not self.busy:
            self.busy = True
            self.owner.schedule(self)
            if self.dead:  # the owner could not run it: its home is gone, `item` with it
                raise ActorDead(self.key)
        return True

    async def wait_to_put(self, item: object) -> None:
        """Park until the drain hands `item` into the mailbox (or the cell dies)."""
        sender = _Sender(trio.lowlevel.current_task(), item)
        if self.senders is None:
            self.senders = deque()
        self.senders.append(sender)
        await trio.lowlevel.wait_task_rescheduled(sender.abort)

    def request_stop(self, how: int) -> None:
        if self.dead or self.stop >= how:
            return
        self.stop = how
        if not self.busy:
            self.busy = True
            self.owner.schedule(self)

    async def drain(self) -> None:
        """Process queued messages until the mailbox is empty or a stop is requested.

        An exception from `receive` propagates to the owner, which decides what a
        crash means; `current` then still names the ask being processed.
        """
        actor = self.actor
        assert actor is not None
        box = self.box
        batches = type(actor).drained is not Actor.drained
        unfinished = False  # messages handled since the last `drained`
        done = 0
        while box and not self.stop:
            item = box.popleft()
            if self.cost is not None:
                self.used -= self.cost(item.message if type(item) is Ask else item)
            if self.senders:
                self._admit(box)
            if type(item) is Ask:
                self.current = item
                reply = await actor.receive(item.message)
                self.current = None
                item.resolve(outcome.Value(reply))
            else:
                await actor.receive(item)
            if batches:
                unfinished = True
                if not box:
                    unfinished = False
                    await actor.drained()
            done += 1
            if done == _FAIR_BATCH:
                done = 0
                await trio.lowlevel.checkpoint()
        if unfinished:
            await actor.drained()

    def settle(self) -> bool:
        """After a drain: mark the cell idle if nothing is queued. Returns whether it is idle."""
        if self.box or self.stop:
            return False
        self.box = None
        self.busy = False
        return True

    def _admit(self, box: deque[object]) -> None:
        """Let parked senders in, oldest first, while the next one fits."""
        senders = self.senders
        assert senders is not None
        while senders:
            sender = senders[0]
            task = sender.task
            if task is None:  # it left while parked
                senders.popleft()
                continue
            if len(box) >= self.capacity:
                return
            item = sender.item
            if self.cost is not None:
                cost = self.cost(item.message if type(item) is Ask else item)
                if box and self.used + cost > self.budget:
                    return
                self.used += cost
            senders.popleft()
            sender.task = None
            box.append(item)
            trio.lowlevel.reschedule(task)

    def die(self, error: Callable[[], ActorError]) -> int:
        """Fail every waiter with a fresh `error()`; return how many tells were dropped.

        Each dropped tell goes to the instance's `undelivered`, if there is an
        instance. Idempotent. Called with no await in between the crash or
        stop and the owner forgetting the cell, so no message can slip into a
        dead mailbox.
        """
        if self.dead:
            return 0
        self.dead = True
        self.busy = True  # never schedule a dead cell again
        actor, self.actor = self.actor, None
        current, self.current = self.current, None
        box, self.box = self.box, None
        senders, self.senders = self.senders, None
        self.used = 0
        if current is not None:
            current.resolve(outcome.Error(error()))
        dropped = 0
        for item in box or ():
            if type(item) is Ask:
                item.resolve(outcome.Error(error()))
            else:
                dropped += 1
                if actor is not None:
                    actor.undelivered(item, error())
        for sender in senders or ():
            task = sender.task
            if task is not None:
                sender.task = None
                trio.lowlevel.reschedule(task, outcome.Error(error()))
        return dropped


# A registry ref starts out pointing here, so resolving costs one attribute read
# until the first message activates the actor.
DEAD_CELL = Cell(None, 0, None)  # type: ignore[arg-type]
DEAD_CELL.dead = True
