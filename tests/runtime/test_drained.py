"""`Actor.drained`: the hook that lets an actor batch work across queued messages."""

from __future__ import annotations

from functools import partial

import trio
from attrs import frozen

from runtime import Actor, LocalRef, serve_actor


@frozen
class Note:
    text: str


class Batcher(Actor):
    """Collects messages and records each batch when told it is drained."""

    __slots__ = ("pending", "events", "gate")

    def __init__(self) -> None:
        self.pending: list[object] = []
        self.events: list[object] = []
        self.gate: trio.Event | None = None

    async def receive(self, message: object) -> object:
        if self.gate is not None:
            await self.gate.wait()
        assert isinstance(message, Note)
        self.pending.append(message.text)
        return None

    async def drained(self) -> None:
        self.events.append(tuple(self.pending))
        self.pending = []

    async def stopping(self) -> None:
        self.events.append("stopping")


async def serve(nursery: trio.Nursery, actor: Actor) -> LocalRef:
    return await nursery.start(partial(serve_actor, actor, key="b"))


async def test_messages_queued_together_are_one_batch() -> None:
    actor = Batcher()
    async with trio.open_nursery() as nursery:
        ref = await serve(nursery, actor)
        for i in range(5):
            ref.tell_nowait(Note(str(i)))  # all queued before the actor's task runs
        await trio.testing.wait_all_tasks_blocked()
        assert actor.events == [("0", "1", "2", "3", "4")]
        ref.tell_nowait(Note("5"))
        await trio.testing.wait_all_tasks_blocked()
        assert actor.events == [("0", "1", "2", "3", "4"), ("5",)]
        nursery.cancel_scope.cancel()


async def test_messages_arriving_during_a_batch_form_the_next_one() -> None:
    actor = Batcher()
    async with trio.open_nursery() as nursery:
        ref = await serve(nursery, actor)
        actor.gate = trio.Event()
        ref.tell_nowait(Note("first"))
        await trio.testing.wait_all_tasks_blocked()  # stuck in receive("first")
        ref.tell_nowait(Note("second"))
        ref.tell_nowait(Note("third"))
        actor.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert actor.events == [("first", "second", "third")]
        nursery.cancel_scope.cancel()


async def test_a_stop_finishes_the_batch_before_stopping() -> None:
    actor = Batcher()
    async with trio.open_nursery() as nursery:
        ref = await serve(nursery, actor)
        actor.gate = trio.Event()
        ref.tell_nowait(Note("handled"))
        await trio.testing.wait_all_tasks_blocked()
        ref.tell_nowait(Note("never handled"))
        ref.request_stop()
        actor.gate.set()
    assert actor.events == [("handled",), "stopping"]


async def test_an_idle_actor_is_not_told_it_drained() -> None:
    actor = Batcher()
    async with trio.open_nursery() as nursery:
        await serve(nursery, actor)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert actor.events == []
