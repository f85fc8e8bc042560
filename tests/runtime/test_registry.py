"""Registry: activation on first message, passivation, crashes, intensity, shutdown."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from runtime import ActorCrashed, ActorDead, Registry, SupervisorGaveUp

from runtime._cell import Cell
from runtime._workers import WorkerPool

from .conftest import Crash, Get, Hold, Journal, Put, Recorder, tasks_under


def registry(journal: Journal, **kwargs: object) -> Registry:
    options: dict[str, object] = {"mailbox_size": 8, "idle_after": 10.0}
    options.update(kwargs)
    return Registry("things", lambda key: Recorder(key, journal), **options)  # type: ignore[arg-type]


async def test_ref_is_free_and_first_message_activates() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal).run)
        ref = things.ref(("user", 42))
        assert ref.key == ("user", 42) and ref.alive
        assert len(things) == 0 and journal.events == []
        assert await ref.ask(Put(1), timeout=1) == 1
        assert len(things) == 1
        assert journal.events[0] == ("started", ("user", 42), journal.events[0][2])
        assert things.ref(("user", 42)) == ref
        things.request_stop()


@pytest.mark.parametrize("use_ask", [False, True])
async def test_racing_first_messages_make_one_instance_and_each_is_processed_once(use_ask: bool) -> None:
    journal = Journal()
    n = 200
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal, mailbox_size=4).run)

        async def send(i: int) -> None:
            ref = things.ref("hot")  # every sender has its own ref, resolved on first use
            if use_ask:
                assert await ref.ask(Put(i), timeout=5) == i
            else:
                await ref.tell(Put(i))

        async with trio.open_nursery() as senders:
            for i in range(n):
                senders.start_soon(send, i)
        values = await things.ref("hot").ask(Get(), timeout=5)
        assert sorted(values) == list(range(n))  # type: ignore[arg-type]
        assert len(journal.of("started")) == 1
        assert sorted(v for _, v in journal.of("put")) == list(range(n))
        things.request_stop()


async def test_idle_actor_is_passivated_and_reactivated_fresh(autojump_clock: object) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal, idle_after=10.0).run)
        ref = things.ref("k")
        await ref.tell(Put(1))
        await trio.sleep(9.0)
        assert len(things) == 1 and journal.of("stopping") == []
        await ref.tell(Put(2))  # activity restarts the idle clock
        await trio.sleep(9.0)
        assert len(things) == 1
        await trio.sleep(3.0)  # within idle_after + idle_after/8 of the last message
        assert len(things) == 0
        first = journal.of("started")[0][1]
        assert journal.of("stopping") == [("k", first)]
        assert await ref.ask(Get(), timeout=1) == []  # a fresh instance, fresh state
        assert journal.of("started")[1][1] != first
        things.request_stop()


async def test_messages_during_passivation_go_to_one_fresh_instance(autojump_clock: object) -> None:
    live = 0
    most_live = 0
    stopping_began = trio.Event()

    class Slow(Recorder):
        __slots__ = ()

        async def started(self) -> None:
            nonlocal live, most_live
            live += 1
            most_live = max(most_live, live)
            await super().started()

        async def stopping(self) -> None:
            nonlocal live
            stopping_began.set()
            await trio.sleep(1.0)  # e.g. flushing state
            live -= 1
            await super().stopping()

    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(
            Registry("slow", lambda key: Slow(key, journal), idle_after=5.0).run
        )
        ref = things.ref("k")
        await ref.tell(Put(1))
        await stopping_began.wait()
        for i in range(2, 5):
            await ref.tell(Put(i))
        assert await ref.ask(Get(), timeout=5) == [2, 3, 4]
        assert most_live == 1
        assert len(journal.of("started")) == 2 and len(journal.of("stopping")) == 1
        things.request_stop()


async def test_crash_is_logged_once_fails_askers_and_next_message_reactivates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    caplog.set_level(logging.ERROR, logger="runtime")
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal).run)
        victim, bystander = things.ref("victim"), things.ref("bystander")
        await bystander.tell(Put(10))
        await victim.tell(Put(1))
        hold = Hold(trio.Event())
        await victim.tell(hold)
        await hold.entered.wait()
        errors: list[BaseException] = []

        async def ask(message: object) -> None:
            try:
                await victim.ask(message, timeout=5)
            except ActorCrashed as exc:
                errors.append(exc)

        nursery.start_soon(ask, Crash("bad input"))
        await trio.testing.wait_all_tasks_blocked()
        await victim.tell(Put(2))  # queued behind the crash: lost with the instance
        nursery.start_soon(ask, Get())
        await trio.testing.wait_all_tasks_blocked()
        hold.release.set()
        await trio.testing.wait_all_tasks_blocked()

        assert len(errors) == 2 and all(isinstance(e.reason, RuntimeError) for e in errors)
        crash_logs = [r for r in caplog.records if "crashed" in r.getMessage()]
        assert len(crash_logs) == 1
        assert "'victim'" in crash_logs[0].getMessage() and "things" in crash_logs[0].getMessage()
        assert crash_logs[0].exc_info is not None and "bad input" in str(crash_logs[0].exc_info[1])
        assert "1 queued tells dropped" in crash_logs[0].getMessage()
        assert await victim.ask(Get(), timeout=1) == []  # fresh instance
        assert await bystander.ask(Get(), timeout=1) == [10]  # untouched
        things.request_stop()


async def test_crash_in_started_fails_the_first_askers() -> None:
    class Fragile(Recorder):
        __slots__ = ()

        async def started(self) -> None:
            raise ValueError("cannot load")

    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(
            Registry("fragile", lambda key: Fragile(key, journal), intensity=10).run
        )
        with pytest.raises(ActorCrashed, match="cannot load"):
            await things.ref(1).ask(Get(), timeout=1)
        assert len(things) == 0
        things.request_stop()


async def test_crash_storm_escalates(autojump_clock: object) -> None:
    journal = Journal()
    things = registry(journal, intensity=3, period=5.0)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp, match="things")):
        async with trio.open_nursery() as nursery:
            await nursery.start(things.run)
            await things.ref("calm").tell(Put(1))
            for key in range(4):
                with pytest.raises(ActorCrashed):
                    await things.ref(key).ask(Crash(), timeout=1)
            await trio.sleep_forever()
    # On giving up, the surviving actor was stopped gracefully.
    assert [key for key, _ in journal.of("stopping")] == ["calm"]
    assert not things.running


async def test_crashes_spread_over_time_do_not_escalate(autojump_clock: object) -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal, intensity=2, period=5.0).run)
        for key in range(10):
            with pytest.raises(ActorCrashed):
                await things.ref(key).ask(Crash(), timeout=1)
            await trio.sleep(2.6)  # never three within 5 s
        assert things.running
        things.request_stop()


async def test_request_stop_stops_all_then_refs_are_dead_until_run_again() -> None:
    journal = Journal()
    things = registry(journal)
    before = tasks_under()
    async with trio.open_nursery() as nursery:
        await nursery.start(things.run)
        refs = [things.ref(i) for i in range(5)]
        for ref in refs:
            await ref.ask(Put(1), timeout=1)
        things.request_stop()
    assert tasks_under() == before  # no task outlives the registry
    assert sorted(key for key, _ in journal.of("stopping")) == list(range(5))
    assert not refs[0].alive
    with pytest.raises(ActorDead):
        await refs[0].tell(Put(2))
    async with trio.open_nursery() as nursery:
        await nursery.start(things.run)  # a supervisor restarting it
        assert refs[0].alive
        assert await refs[0].ask(Get(), timeout=1) == []
        things.request_stop()


async def test_shutdown_timeout_cancels_a_stuck_actor(autojump_clock: object) -> None:
    journal = Journal()
    errors: list[BaseException] = []
    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            things = await nursery.start(registry(journal, shutdown=2.0).run)
            hold = Hold(trio.Event())  # never released
            await things.ref("stuck").tell(hold)
            await hold.entered.wait()

            async def ask() -> None:
                try:
                    await things.ref("stuck").ask(Get(), timeout=60)
                except ActorDead as exc:
                    errors.append(exc)

            outer.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            t0 = trio.current_time()
            things.request_stop()
        assert trio.current_time() - t0 == pytest.approx(2.0)
    assert [type(e) for e in errors] == [ActorDead]
    assert journal.of("stopping") == []  # cancelled, so no stopping()


async def test_cancelling_run_fails_waiting_askers_with_actor_dead() -> None:
    journal = Journal()
    errors: list[BaseException] = []
    async with trio.open_nursery() as askers:
        async with trio.open_nursery() as nursery:
            things = await nursery.start(registry(journal).run)
            hold = Hold(trio.Event())
            await things.ref("a").tell(hold)
            await hold.entered.wait()

            async def ask() -> None:
                try:
                    await things.ref("a").ask(Get(), timeout=60)
                except ActorDead as exc:
                    errors.append(exc)

            askers.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert [type(e) for e in errors] == [ActorDead]
    assert journal.of("stopping") == []  # cancelled: no graceful stop


async def test_request_stop_on_a_registry_ref_passivates_that_key() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal).run)
        ref = things.ref("k")
        await ref.ask(Put(1), timeout=1)
        await things.ref("other").ask(Put(1), timeout=1)
        ref.request_stop()
        await trio.testing.wait_all_tasks_blocked()
        assert [key for key, _ in journal.of("stopping")] == ["k"]
        assert len(things) == 1
        assert await ref.ask(Get(), timeout=1) == []
        things.request_stop()


async def test_many_actors_share_few_worker_tasks() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal, idle_after=None).run)
        for key in range(500):
            things.ref(key).tell_nowait(Put(key))
        await trio.testing.wait_all_tasks_blocked()
        assert len(things) == 500
        # the registry's task, its sweeper and a handful of parked workers
        assert tasks_under() < 20
        things.request_stop()


async def test_an_actor_blocked_in_receive_never_delays_the_others() -> None:
    journal = Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(registry(journal).run)
        holds = [Hold(trio.Event()) for _ in range(3)]
        for i, hold in enumerate(holds):
            await things.ref(("blocked", i)).tell(hold)
            await hold.entered.wait()  # each one occupies a worker
        for key in range(100):
            assert await things.ref(key).ask(Put(key), timeout=1) == key
        for hold in holds:
            hold.release.set()
        things.request_stop()


async def test_a_tell_after_the_worker_nursery_closed_raises_actor_dead() -> None:
    """A registry stops in two steps: its worker nursery closes, then `run`
    kills its cells. A tell in between meets a pool that cannot run the
    cell: the sender hears ActorDead, as from any dead actor, not trio's
    "nursery is closed" RuntimeError."""
    async with trio.open_nursery() as workers:
        pool = WorkerPool(workers, lambda cell: trio.lowlevel.checkpoint())
    cell = Cell(("user", 1), 4, pool)
    with pytest.raises(ActorDead):
        cell.offer("hello")
    assert cell.dead
