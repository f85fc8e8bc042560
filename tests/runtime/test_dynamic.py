"""DynamicSupervisor: children of one kind started on demand (OTP simple_one_for_one)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from runtime import (
    DynamicSupervisor,
    LocalRef,
    Restart,
    SupervisorGaveUp,
    TooManyChildren,
    serve_actor,
)

from .conftest import Boom, Get, Journal, Lab, Put, Recorder, tasks_under


def sessions(lab: Lab, **kwargs: object) -> DynamicSupervisor:
    async def start(name: str, *, task_status: trio.TaskStatus[str]) -> None:
        await lab.child(name)(task_status=task_status)

    return DynamicSupervisor("sessions", start, **kwargs)  # type: ignore[arg-type]


async def test_start_child_returns_once_initialised() -> None:
    lab = Lab()
    before = tasks_under()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(sessions(lab).run)
        assert await sup.start_child("s1") == "s1"
        assert lab.log == [("start", "s1")] and "s1" in lab.live
        await sup.start_child("s2")
        assert len(sup) == 2
        sup.request_stop()
    assert sorted(lab.log[2:]) == [("stop", "s1"), ("stop", "s2")]
    assert tasks_under() == before


async def test_max_children_is_a_defined_error() -> None:
    lab = Lab()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(sessions(lab, max_children=2).run)
        await sup.start_child("a")
        await sup.start_child("b")
        with pytest.raises(TooManyChildren, match="sessions"):
            await sup.start_child("c")
        lab.live["a"].exit()
        await trio.testing.wait_all_tasks_blocked()
        assert await sup.start_child("c") == "c"  # a slot came free
        sup.request_stop()


async def test_restart_types_of_dynamic_children() -> None:
    lab = Lab()
    async with trio.open_nursery() as nursery:
        temporary = await nursery.start(sessions(lab).run)
        transient = await nursery.start(
            DynamicSupervisor("transient", lambda name, task_status: lab.child(name)(task_status=task_status),
                              restart=Restart.TRANSIENT).run
        )
        await temporary.start_child("tmp")
        await transient.start_child("tr")
        lab.log.clear()
        lab.live["tmp"].crash()
        lab.live["tr"].crash()
        await trio.testing.wait_all_tasks_blocked()
        assert lab.log == [("start", "tr")]  # restarted with the same args
        assert len(temporary) == 0 and len(transient) == 1
        lab.live["tr"].exit()
        await trio.testing.wait_all_tasks_blocked()
        assert len(transient) == 0
        temporary.request_stop()
        transient.request_stop()


async def test_start_failure_reaches_the_caller_and_leaves_no_child() -> None:
    lab = Lab(fail_starts={"bad"})
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(sessions(lab).run)
        with pytest.raises(Boom):
            await sup.start_child("bad")
        assert len(sup) == 0 and sup.running
        sup.request_stop()
    with pytest.raises(RuntimeError, match="not running"):
        await sup.start_child("late")


async def test_too_many_restarts_give_up(autojump_clock: object) -> None:
    lab = Lab()
    sup = sessions(lab, restart=Restart.PERMANENT, intensity=2, period=5.0)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp)):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await sup.start_child("flaky")
            await sup.start_child("calm")
            for _ in range(3):
                lab.live["flaky"].crash()
                await trio.testing.wait_all_tasks_blocked()
            await trio.sleep_forever()
    assert lab.log[-1] == ("stop", "calm")


async def test_actor_children_stop_gracefully_and_concurrently(autojump_clock: object) -> None:
    journal = Journal()

    async def session(key: str, *, task_status: trio.TaskStatus[LocalRef]) -> None:
        await serve_actor(Recorder(key, journal), key=key, task_status=task_status)

    async with trio.open_nursery() as nursery:
        sup = await nursery.start(DynamicSupervisor("sessions", session, shutdown=1.0).run)
        refs = [await sup.start_child(f"s{i}") for i in range(3)]
        for ref in refs:
            await ref.tell(Put(1))  # type: ignore[attr-defined]
        assert await refs[0].ask(Get(), timeout=1) == [1]  # type: ignore[attr-defined]
        sup.request_stop()
    assert sorted(key for key, _ in journal.of("stopping")) == ["s0", "s1", "s2"]
