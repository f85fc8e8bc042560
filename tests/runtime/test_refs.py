"""Mailboxes and refs: tell, tell_nowait, ask, overflow, timeouts, dead and crashed actors."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from runtime import (
    ActorCrashed,
    ActorDead,
    AskTimeout,
    LocalRef,
    MailboxFull,
    serve_actor,
)
from runtime._cell import Ask

from .conftest import Crash, Get, Hold, Journal, Put, Recorder, spawn, tasks_under


async def start(nursery: trio.Nursery, journal: Journal, *, mailbox_size: int = 4, key: object = "a") -> LocalRef:
    return await nursery.start(
        lambda task_status: serve_actor(
            Recorder(key, journal), key=key, mailbox_size=mailbox_size, task_status=task_status
        )
    )


Host = Callable[[trio.Nursery, Journal], Awaitable[LocalRef]]


def live_asks() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Ask)


async def test_tell_in_order_and_ask_returns_receive_value() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal)
        for i in range(10):
            await ref.tell(Put(i))
        assert await ref.ask(Get(), timeout=1) == list(range(10))
        assert await ref.ask(Put(42), timeout=1) == 42
        ref.request_stop()


async def test_started_runs_before_start_returns() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal)
        assert journal.of("started") and ref.alive
        ref.request_stop()


async def test_tell_nowait_on_full_mailbox_raises_and_drops_nothing_queued() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal, mailbox_size=3, key="full")
        hold = Hold(trio.Event())
        ref.tell_nowait(hold)
        await hold.entered.wait()  # the actor is busy; its mailbox is empty again
        for i in range(3):
            ref.tell_nowait(Put(i))
        with pytest.raises(MailboxFull) as info:
            ref.tell_nowait(Put(99))
        assert info.value.key == "full" and info.value.capacity == 3
        assert "'full'" in str(info.value) and "3" in str(info.value)
        hold.release.set()
        assert await ref.ask(Get(), timeout=1) == [0, 1, 2]
        ref.request_stop()


async def test_tell_waits_for_space_and_keeps_fifo_order() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal, mailbox_size=2)
        hold = Hold(trio.Event())
        await ref.tell(hold)
        await hold.entered.wait()
        await ref.tell(Put(0))
        await ref.tell(Put(1))
        progress: list[int] = []

        async def blocked_sender(value: int) -> None:
            await ref.tell(Put(value))
            progress.append(value)

        nursery.start_soon(blocked_sender, 2)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(blocked_sender, 3)
        await trio.testing.wait_all_tasks_blocked()
        assert progress == []  # both wait for space
        hold.release.set()
        assert await ref.ask(Get(), timeout=1) == [0, 1, 2, 3]
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(progress) == [2, 3]  # both got through (their wake-up order is Trio's)
        ref.request_stop()


async def test_ask_timeout_raises_and_leaves_no_orphaned_reply(autojump_clock: object) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal)
        before = tasks_under()
        hold = Hold(trio.Event())
        ref.tell_nowait(hold)
        await hold.entered.wait()
        t0 = trio.current_time()
        with pytest.raises(AskTimeout) as info:
            await ref.ask(Put(7), timeout=2.5)
        assert 2.5 <= trio.current_time() - t0 < 2.6
        assert info.value.key == "a" and info.value.timeout == 2.5
        del info  # its traceback holds the asker's frame, and so the slot
        assert live_asks() == 1  # still queued: the message is delivered, only its reply is unwanted
        hold.release.set()
        # The late reply to Put(7) goes nowhere; the next ask gets its own reply.
        assert await ref.ask(Put(8), timeout=1) == 8
        assert await ref.ask(Get(), timeout=1) == [7, 8]
        assert live_asks() == 0
        assert tasks_under() == before
        ref.request_stop()


async def test_ask_timeout_while_mailbox_full_delivers_nothing(autojump_clock: object) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal, mailbox_size=1)
        hold = Hold(trio.Event())
        ref.tell_nowait(hold)
        await hold.entered.wait()
        ref.tell_nowait(Put(1))
        with pytest.raises(AskTimeout):
            await ref.ask(Put(2), timeout=1)
        hold.release.set()
        assert await ref.ask(Get(), timeout=1) == [1]
        assert live_asks() == 0
        ref.request_stop()


async def test_cancelled_asker_leaves_actor_running_and_reply_dropped() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal)
        hold = Hold(trio.Event())
        with trio.CancelScope() as scope:
            nursery.start_soon(lambda: hold.entered.wait())
            async def cancel_when_held() -> None:
                await hold.entered.wait()
                scope.cancel()
            nursery.start_soon(cancel_when_held)
            await ref.ask(hold, timeout=10)
        assert scope.cancelled_caught
        hold.release.set()
        assert await ref.ask(Put(1), timeout=1) == 1
        assert live_asks() == 0
        ref.request_stop()


@pytest.mark.parametrize("host", [start, spawn], ids=["serve_actor", "spawn_actor"])
async def test_request_stop_finishes_current_message_then_fails_queued(host: Host) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await host(nursery, journal)
        hold = Hold(trio.Event())
        outcomes: dict[str, object] = {}

        async def ask(name: str, message: object) -> None:
            try:
                outcomes[name] = await ref.ask(message, timeout=10)
            except ActorDead as exc:
                outcomes[name] = exc

        nursery.start_soon(ask, "current", hold)
        await hold.entered.wait()
        nursery.start_soon(ask, "queued", Put(1))
        await trio.testing.wait_all_tasks_blocked()
        ref.request_stop()
        with pytest.raises(ActorDead):
            ref.tell_nowait(Put(2))  # a stopping actor takes no new mail
        assert journal.of("stopping") == []  # not before the current message is done
        hold.release.set()
    assert outcomes["current"] == "released"
    assert isinstance(outcomes["queued"], ActorDead)
    assert [kind for kind, _, _ in journal.events] == ["started", "stopping"]
    assert not ref.alive


async def test_dead_actor_gives_defined_errors_not_hangs() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal)
        ref.request_stop()
    assert not ref.alive
    with pytest.raises(ActorDead):
        await ref.tell(Put(1))
    with pytest.raises(ActorDead):
        ref.tell_nowait(Put(1))
    with pytest.raises(ActorDead):
        await ref.ask(Get(), timeout=1)


async def test_senders_waiting_for_space_hear_actor_dead_when_it_stops() -> None:
    journal = Journal()
    errors: list[BaseException] = []
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal, mailbox_size=1)
        hold = Hold(trio.Event())
        ref.tell_nowait(hold)
        await hold.entered.wait()
        ref.tell_nowait(Put(1))

        async def sender() -> None:
            try:
                await ref.tell(Put(2))
            except ActorDead as exc:
                errors.append(exc)

        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        ref.request_stop()
        hold.release.set()
    assert len(errors) == 1


async def test_crash_fails_current_and_queued_askers_and_propagates() -> None:
    journal = Journal()
    errors: list[BaseException] = []
    hold = Hold(trio.Event())

    async def ask(ref: LocalRef, message: object) -> None:
        try:
            await ref.ask(message, timeout=10)
        except ActorCrashed as exc:
            errors.append(exc)

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="kaput")):
        async with trio.open_nursery() as nursery:
            ref = await start(nursery, journal)
            ref.tell_nowait(hold)
            await hold.entered.wait()
            nursery.start_soon(ask, ref, Crash("kaput"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(ask, ref, Get())
            await trio.testing.wait_all_tasks_blocked()
            hold.release.set()
    assert len(errors) == 2
    assert all(isinstance(e.reason, RuntimeError) and "kaput" in str(e) for e in errors)
    assert errors[0].__cause__ is errors[0].reason
    assert not ref.alive
    assert journal.of("stopping") == []  # no stopping() after a crash


async def test_cancelling_the_host_is_not_a_crash() -> None:
    journal = Journal()
    errors: list[BaseException] = []
    async with trio.open_nursery() as outer:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                ref = await start(nursery, journal)
                hold = Hold(trio.Event())
                ref.tell_nowait(hold)
                await hold.entered.wait()

                async def ask() -> None:
                    try:
                        await ref.ask(Get(), timeout=10)
                    except ActorDead as exc:
                        errors.append(exc)

                outer.start_soon(ask)
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()
    assert scope.cancelled_caught
    assert [type(e) for e in errors] == [ActorDead]
    assert journal.of("stopping") == []


async def test_messages_must_be_attrs_values() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal)
        with pytest.raises(TypeError, match="attrs"):
            ref.tell_nowait({"kind": "put"})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ref.ask(("get",), timeout=1)
        ref.request_stop()


async def test_refs_compare_by_actor() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        a = await start(nursery, journal, key="a")
        b = await start(nursery, journal, key="a")
        assert a == a and a != b and len({a, b, a}) == 2
        a.request_stop()
        b.request_stop()


async def test_a_long_mailbox_does_not_starve_other_tasks() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        ref = await start(nursery, journal, mailbox_size=1000)
        ticks: list[int] = []

        async def other() -> None:
            for i in range(3):
                ticks.append(len(journal.of("put")))
                await trio.lowlevel.checkpoint()

        for i in range(1000):
            ref.tell_nowait(Put(i))
        nursery.start_soon(other)
        assert len(await ref.ask(Get(), timeout=1)) == 1000
        # `other` ran while the mailbox was being drained, not only after it.
        assert ticks and ticks[0] < 1000
        ref.request_stop()
