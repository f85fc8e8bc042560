"""spawn_actor: an actor hosted in a nursery, with a task only while it has mail."""

from __future__ import annotations

import contextvars

import pytest
import trio
import trio.testing
from attrs import frozen

from runtime import ActorCrashed, ActorDead, AskTimeout, LocalRef, spawn_actor

from .conftest import Crash, Get, Hold, Journal, Put, Recorder, spawn


async def ask_outcome(ref: LocalRef, message: object, outcomes: dict[str, object], name: str) -> None:
    try:
        outcomes[name] = await ref.ask(message, timeout=10)
    except (ActorDead, ActorCrashed, AskTimeout) as exc:
        outcomes[name] = exc


async def test_a_task_exists_only_while_the_mailbox_has_mail() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, journal)
        assert nursery.child_tasks == frozenset()
        hold = Hold(trio.Event())
        ref.tell_nowait(hold)
        ref.tell_nowait(Put(1))
        ref.tell_nowait(Put(2))
        await hold.entered.wait()
        assert len(nursery.child_tasks) == 1  # one task drains the whole burst
        hold.release.set()
        assert await ref.ask(Get(), timeout=1) == [1, 2]
        await trio.testing.wait_all_tasks_blocked()
        assert nursery.child_tasks == frozenset()
        assert await ref.ask(Put(3), timeout=1) == 3  # and the next message gets a new one
        ref.request_stop()


class SlowStart(Recorder):
    __slots__ = ()

    async def started(self) -> None:
        await trio.sleep(1)
        await super().started()


async def test_started_runs_before_spawn_returns(autojump_clock: object) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await spawn_actor(nursery, SlowStart("a", journal), key="a")
        assert journal.events == [("started", "a", journal.events[0][2])]
        await ref.tell(Put(1))
        assert await ref.ask(Get(), timeout=1) == [1]
        assert [kind for kind, _, _ in journal.events] == ["started", "put"]
        ref.request_stop()


async def test_a_crash_fails_the_waiting_senders_and_propagates_into_the_nursery(autojump_clock: object) -> None:
    journal = Journal()
    outcomes: dict[str, object] = {}
    hold = Hold(trio.Event())
    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="kaput"), flatten_subgroups=True):
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as nursery:
                ref = await spawn(nursery, journal)
                ref.tell_nowait(hold)
                await hold.entered.wait()
                outer.start_soon(ask_outcome, ref, Crash("kaput"), outcomes, "crash")
                await trio.testing.wait_all_tasks_blocked()
                outer.start_soon(ask_outcome, ref, Get(), outcomes, "queued")
                await trio.testing.wait_all_tasks_blocked()
                hold.release.set()
                await trio.sleep_forever()  # the crash cancels this
    for name in ("crash", "queued"):
        error = outcomes[name]
        assert isinstance(error, ActorCrashed) and isinstance(error.reason, RuntimeError), (name, error)
    assert not ref.alive
    assert journal.of("stopping") == []


async def test_request_stop_of_an_idle_actor_runs_stopping() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, journal)
        ref.request_stop()
    assert [kind for kind, _, _ in journal.events] == ["started", "stopping"]
    assert not ref.alive


async def test_cancelling_the_nursery_fails_the_waiting_senders_with_actor_dead(autojump_clock: object) -> None:
    journal = Journal()
    outcomes: dict[str, object] = {}
    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            ref = await spawn(nursery, journal)
            hold = Hold(trio.Event())
            ref.tell_nowait(hold)
            await hold.entered.wait()
            outer.start_soon(ask_outcome, ref, Get(), outcomes, "queued")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert isinstance(outcomes["queued"], ActorDead)
    assert journal.of("stopping") == []
    assert not ref.alive


async def test_an_actor_idle_when_its_nursery_closed_is_dead_to_every_sender() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, journal)
        await ref.tell(Put(1))
    with pytest.raises(ActorDead):
        ref.tell_nowait(Put(2))
    assert not ref.alive
    ref.request_stop()  # nothing to stop, and nothing raised
    with pytest.raises(ActorDead):
        await ref.tell(Put(3))
    with trio.fail_after(1), pytest.raises(ActorDead):
        await ref.ask(Get(), timeout=10)
    assert journal.of("put") == [("a", 1)]


async def test_an_ask_to_an_idle_actor_whose_nursery_was_cancelled_does_not_hang(autojump_clock: object) -> None:
    journal = Journal()
    outcomes: dict[str, object] = {}
    keep_open = trio.Event()

    async def keep_nursery_open() -> None:
        with trio.CancelScope(shield=True):
            await keep_open.wait()

    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            ref = await spawn(nursery, journal)
            nursery.start_soon(keep_nursery_open)
            nursery.cancel_scope.cancel()
            outer.start_soon(ask_outcome, ref, Hold(trio.Event()), outcomes, "held")
            with trio.CancelScope(shield=True):
                await trio.testing.wait_all_tasks_blocked()
            keep_open.set()
    assert isinstance(outcomes["held"], ActorDead)


Who = contextvars.ContextVar[str]("Who")


@frozen
class WhoIsIt:
    pass


class ContextReader(Recorder):
    __slots__ = ()

    async def receive(self, message: object) -> object:
        if isinstance(message, WhoIsIt):
            return Who.get("unset")
        return await super().receive(message)


async def test_drain_tasks_run_in_the_spawners_context_not_the_senders() -> None:
    journal = Journal()
    Who.set("spawner")
    seen: list[object] = []
    async with trio.open_nursery() as nursery:
        ref = await spawn_actor(nursery, ContextReader("a", journal), key="a")

        async def sender() -> None:
            Who.set("sender")
            seen.append(await ref.ask(WhoIsIt(), timeout=1))

        async with trio.open_nursery() as senders:
            senders.start_soon(sender)
        ref.request_stop()
    assert seen == ["spawner"]


async def test_a_long_mailbox_does_not_starve_other_tasks() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, journal, mailbox_size=1000)

        async def other() -> None:
            for i in range(100):
                journal.events.append(("tick", None, i))
                await trio.lowlevel.checkpoint()

        nursery.start_soon(other)
        for i in range(1000):
            ref.tell_nowait(Put(i))
        assert len(await ref.ask(Get(), timeout=1)) == 1000
        kinds = [kind for kind, _, _ in journal.events]
        first, last = kinds.index("put"), len(kinds) - 1 - kinds[::-1].index("put")
        assert "tick" in kinds[first:last]  # `other` ran while the mailbox was being drained
        ref.request_stop()
