"""Shared actors, messages and probes for the runtime tests."""

from __future__ import annotations

import itertools
from collections.abc import Hashable

import trio
from attrs import define, field, frozen

from runtime import Actor, LocalRef, spawn_actor


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


class Boom(Exception):
    """What a lab child raises when told to crash."""


@define
class Control:
    """Steers one running incarnation of a lab child."""

    go: trio.Event = field(factory=trio.Event)
    action: str = "exit"

    def crash(self) -> None:
        self.action = "crash"
        self.go.set()

    def exit(self) -> None:
        self.action = "exit"
        self.go.set()


@define
class Lab:
    """Plain-task children that record starts and stops and crash or exit on command."""

    log: list[tuple[str, str]] = field(factory=list)
    live: dict[str, Control] = field(factory=dict)
    fail_starts: set[str] = field(factory=set)

    def child(self, name: str):  # type: ignore[no-untyped-def]
        async def start(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            if name in self.fail_starts:
                raise Boom(f"{name} cannot start")
            control = self.live[name] = Control()
            self.log.append(("start", name))
            task_status.started(name)
            try:
                await control.go.wait()
            except trio.Cancelled:
                self.log.append(("stop", name))
                raise
            finally:
                del self.live[name]
            if control.action == "crash":
                raise Boom(f"{name} crashed")

        return start


async def spawn(nursery: trio.Nursery, journal: Journal, *, mailbox_size: int = 4, key: object = "a") -> LocalRef:
    """A Recorder hosted by `spawn_actor`: a task only while it has mail."""
    return await spawn_actor(nursery, Recorder(key, journal), key=key, mailbox_size=mailbox_size)
