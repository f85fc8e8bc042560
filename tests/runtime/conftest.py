"""Shared actors, messages and probes for the runtime tests."""

from __future__ import annotations

import itertools
from collections.abc import Hashable

import trio
from attrs import define, field, frozen

from runtime import Actor


@frozen
class Put:
    value: int


@frozen
class Get:
    pass


@frozen
class Crash:
    reason: str = "boom"


@frozen(eq=False)
class Hold:
    """Blocks the actor inside `receive` until `release` is set."""

    release: trio.Event
    entered: trio.Event = field(factory=trio.Event)


@define
class Journal:
    """What actors did, in order, across instances: the tests' only window into them."""

    events: list[tuple[str, Hashable, object]] = field(factory=list)

    def of(self, kind: str) -> list[tuple[Hashable, object]]:
        return [(key, value) for k, key, value in self.events if k == kind]


_serials = itertools.count()


class Recorder(Actor):
    """Keeps the values it was told; replies to `Get` with them; crashes on `Crash`.

    Journal entries of `started` and `stopping` carry the instance's serial number.
    """

    __slots__ = ("key", "journal", "values", "serial")

    def __init__(self, key: Hashable, journal: Journal) -> None:
        self.key = key
        self.journal = journal
        self.values: list[int] = []
        self.serial = next(_serials)

    async def started(self) -> None:
        self.journal.events.append(("started", self.key, self.serial))

    async def receive(self, message: object) -> object:
        if isinstance(message, Put):
            self.values.append(message.value)
            self.journal.events.append(("put", self.key, message.value))
            return message.value
        if isinstance(message, Get):
            return list(self.values)
        if isinstance(message, Crash):
            raise RuntimeError(message.reason)
        if isinstance(message, Hold):
            message.entered.set()
            await message.release.wait()
            return "released"
        raise AssertionError(f"unexpected {message!r}")

    async def stopping(self) -> None:
        self.journal.events.append(("stopping", self.key, self.serial))


def tasks_under(task: trio.lowlevel.Task | None = None) -> int:
    """Tasks in the tree below `task` (default: the current one), itself included."""
    task = task or trio.lowlevel.current_task()
    return 1 + sum(tasks_under(child) for nursery in task.child_nurseries for child in nursery.child_tasks)
