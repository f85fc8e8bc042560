"""Supervisor: order, strategies, restart types, intensity, escalation, graceful stop."""

from __future__ import annotations

import logging
import pytest
import trio
import trio.testing

from runtime import (
    ActorCrashed,
    ChildSpec,
    LocalRef,
    Registry,
    Restart,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
    serve_actor,
)

from .conftest import Boom, Crash, Get, Hold, Journal, Lab, Put, Recorder, tasks_under


def tree(lab: Lab, strategy: Strategy, *children: tuple[str, Restart], **kwargs: object) -> Supervisor:
    specs = [ChildSpec(name, lab.child(name), restart) for name, restart in children]
    return Supervisor("tree", strategy, specs, **kwargs)  # type: ignore[arg-type]


P, T, TMP = Restart.PERMANENT, Restart.TRANSIENT, Restart.TEMPORARY


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_children_start_in_order_before_start_returns_and_stop_in_reverse() -> None:
    lab = Lab()
    before = tasks_under()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(tree(lab, Strategy.ONE_FOR_ONE, ("a", P), ("b", P), ("c", P)).run)
        assert lab.log == [("start", "a"), ("start", "b"), ("start", "c")]
        assert [(c.name, c.running, c.value) for c in sup.which_children()] == [
            ("a", True, "a"), ("b", True, "b"), ("c", True, "c")
        ]
        lab.log.clear()
        sup.request_stop()
    assert lab.log == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    assert tasks_under() == before


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.ONE_FOR_ONE, [("start", "b")]),
        (
            Strategy.ONE_FOR_ALL,
            [("stop", "c"), ("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")],
        ),
        (Strategy.REST_FOR_ONE, [("stop", "c"), ("start", "b"), ("start", "c")]),
    ],
)
async def test_strategies_restart_the_right_children_in_the_right_order(
    strategy: Strategy, expected: list[tuple[str, str]]
) -> None:
    lab = Lab()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(tree(lab, strategy, ("a", P), ("b", P), ("c", P)).run)
        lab.log.clear()
        lab.live["b"].crash()
        await settle()
        assert lab.log == expected
        sup.request_stop()


async def test_restart_types() -> None:
    lab = Lab()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(
            tree(lab, Strategy.ONE_FOR_ONE, ("perm", P), ("trans", T), ("temp", TMP), intensity=10).run
        )
        lab.log.clear()
        lab.live["perm"].exit()
        lab.live["trans"].crash()
        await settle()
        assert sorted(lab.log) == [("start", "perm"), ("start", "trans")]
        lab.log.clear()
        lab.live["trans"].exit()  # a transient child that returns is done
        lab.live["temp"].crash()  # a temporary child is never restarted
        await settle()
        assert lab.log == []
        assert [(c.name, c.running) for c in sup.which_children()] == [
            ("perm", True), ("trans", False)
        ]
        sup.request_stop()


async def test_group_restart_restarts_a_finished_transient_and_drops_temporaries() -> None:
    lab = Lab()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(
            tree(lab, Strategy.ONE_FOR_ALL, ("a", P), ("t", T), ("tmp", TMP), ("z", P)).run
        )
        lab.live["t"].exit()
        await settle()
        lab.log.clear()
        lab.live["z"].crash()
        await settle()
        # OTP: the stopped group restarts whole, a transient that had ended
        # included; a temporary child is stopped and forgotten.
        assert lab.log == [
            ("stop", "tmp"), ("stop", "a"), ("start", "a"), ("start", "t"), ("start", "z")
        ]
        assert [c.name for c in sup.which_children()] == ["a", "t", "z"]
        sup.request_stop()


async def test_too_many_restarts_stop_everything_and_escalate(autojump_clock: object) -> None:
    lab = Lab()
    sup = tree(lab, Strategy.ONE_FOR_ONE, ("a", P), ("b", P), intensity=2, period=10.0)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp, match="'tree'")):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for _ in range(2):
                lab.live["b"].crash()
                await settle()
            lab.log.clear()
            lab.live["b"].crash()
            await trio.sleep_forever()
    assert lab.log == [("stop", "a")]
    assert not sup.running


async def test_restarts_older_than_the_period_are_forgotten(autojump_clock: object) -> None:
    lab = Lab()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(tree(lab, Strategy.ONE_FOR_ONE, ("a", P), intensity=1, period=1.0).run)
        for _ in range(5):
            lab.live["a"].crash()
            await settle()
            await trio.sleep(1.0)
        assert sup.running and "a" in lab.live
        sup.request_stop()


async def test_a_child_that_cannot_start_fails_the_supervisor_start() -> None:
    lab = Lab(fail_starts={"c"})
    async with trio.open_nursery() as nursery:
        with pytest.raises(Boom, match="c cannot start"):
            await nursery.start(tree(lab, Strategy.ONE_FOR_ONE, ("a", P), ("b", P), ("c", P)).run)
    assert lab.log == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")]


async def test_a_middle_child_that_cannot_start_stops_only_the_ones_started() -> None:
    """The children after it never started: stopping must not wait for them
    (it once waited forever, and `chatnode serve` on a port in use hung)."""
    lab = Lab(fail_starts={"b"})
    with trio.fail_after(5):  # a bound on a hang, not a speed assertion
        async with trio.open_nursery() as nursery:
            with pytest.raises(Boom, match="b cannot start"):
                await nursery.start(tree(lab, Strategy.REST_FOR_ONE, ("a", P), ("b", P), ("c", P)).run)
    assert lab.log == [("start", "a"), ("stop", "a")]


async def test_failed_restarts_count_towards_intensity(autojump_clock: object) -> None:
    lab = Lab()
    sup = tree(lab, Strategy.ONE_FOR_ONE, ("a", P), ("b", P), intensity=3)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp)):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            lab.fail_starts.add("b")
            lab.live["b"].crash()
            await trio.sleep_forever()
    assert lab.log[-1] == ("stop", "a")


async def test_nested_supervisor_giving_up_is_restarted_by_its_parent() -> None:
    lab = Lab()
    inner = tree(lab, Strategy.ONE_FOR_ONE, ("leaf", P), intensity=0)
    outer = Supervisor("outer", Strategy.ONE_FOR_ONE, [ChildSpec("inner", inner.run)], intensity=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(outer.run)
        lab.log.clear()
        lab.live["leaf"].crash()
        await settle()
        assert lab.log == [("start", "leaf")]  # by the new incarnation of `inner`
        assert inner.running
        outer.request_stop()
    assert lab.log[-1] == ("stop", "leaf")


async def test_crash_is_logged_once_with_name_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="runtime")
    lab = Lab()
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(tree(lab, Strategy.ONE_FOR_ALL, ("a", P), ("b", P)).run)
        lab.live["b"].crash()
        await settle()
        sup.request_stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "'b'" in errors[0].getMessage() and "tree" in errors[0].getMessage()
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], Boom)


async def test_cancellation_is_never_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="runtime")
    lab = Lab()
    async with trio.open_nursery() as nursery:
        await nursery.start(tree(lab, Strategy.ONE_FOR_ONE, ("a", P), ("b", P)).run)
        lab.log.clear()
        nursery.cancel_scope.cancel()
    assert sorted(lab.log) == [("stop", "a"), ("stop", "b")]  # cancelled, none restarted
    assert caplog.records == []


async def test_cancelling_run_stops_the_children_newest_first_each_after_the_newer_ended() -> None:
    """Even "stop now" keeps OTP's shutdown order: a child winding down (for
    a few checkpoints here) still has every sibling started before it, and
    none started after it."""
    running: list[str] = []
    running_when_cancelled: dict[str, list[str]] = {}

    def child(name: str):  # type: ignore[no-untyped-def]
        async def start(*, task_status: trio.TaskStatus[str]) -> None:
            running.append(name)
            task_status.started(name)
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                running_when_cancelled[name] = list(running)
                with trio.CancelScope(shield=True):
                    for _ in range(5):
                        await trio.lowlevel.checkpoint()
                raise
            finally:
                running.remove(name)

        return start

    async with trio.open_nursery() as nursery:
        specs = [ChildSpec(name, child(name)) for name in "abc"]
        await nursery.start(Supervisor("tree", Strategy.ONE_FOR_ONE, specs).run)
        nursery.cancel_scope.cancel()
    assert running_when_cancelled == {"c": ["a", "b", "c"], "b": ["a", "b"], "a": ["a"]}
    assert running == []


async def test_a_child_still_starting_ends_as_soon_as_its_supervisor_is_cancelled(autojump_clock: object) -> None:
    lab = Lab()

    async def slow_start(*, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep(60)  # say, a store that is down
        task_status.started()

    start = trio.current_time()
    with trio.move_on_after(1):
        await Supervisor("tree", Strategy.ONE_FOR_ONE, [ChildSpec("a", lab.child("a")), ChildSpec("b", slow_start)]).run()
    assert trio.current_time() - start == pytest.approx(1)
    assert lab.log == [("start", "a"), ("stop", "a")]


async def test_a_child_that_finishes_starting_after_its_supervisor_was_cancelled_ends(
    autojump_clock: object,
) -> None:
    """Trio leaves such a child in its cancelled start: it must not be shielded there."""

    async def late_start(*, task_status: trio.TaskStatus[None]) -> None:
        with trio.CancelScope(shield=True):
            await trio.sleep(1)  # cancelled meanwhile, and not told yet
        task_status.started()
        await trio.sleep(100)

    start = trio.current_time()
    with trio.move_on_after(0.5):
        await Supervisor("tree", Strategy.ONE_FOR_ONE, [ChildSpec("late", late_start)]).run()
    assert trio.current_time() - start == pytest.approx(1)


def actor_child(journal: Journal, key: str) -> ChildSpec:
    async def start(*, task_status: trio.TaskStatus[LocalRef]) -> None:
        # A fresh instance per start: a restarted actor must not inherit the crashed one's state.
        await serve_actor(Recorder(key, journal), key=key, mailbox_size=8, task_status=task_status)

    return ChildSpec(key, start, shutdown=2.0)


async def test_actor_children_stop_gracefully_newest_first() -> None:
    journal = Journal()
    sup = Supervisor("actors", Strategy.ONE_FOR_ONE, [actor_child(journal, "x"), actor_child(journal, "y")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.request_stop()
    assert [(kind, key) for kind, key, _ in journal.events] == [
        ("started", "x"), ("started", "y"), ("stopping", "y"), ("stopping", "x")
    ]


async def test_a_child_that_ignores_its_stop_request_is_cancelled_after_shutdown(autojump_clock: object) -> None:
    journal = Journal()
    sup = Supervisor("actors", Strategy.ONE_FOR_ONE, [actor_child(journal, "stuck")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.which_children()[0].value
        assert isinstance(ref, LocalRef)
        hold = Hold(trio.Event())
        await ref.tell(hold)
        await hold.entered.wait()
        t0 = trio.current_time()
        sup.request_stop()
    assert trio.current_time() - t0 == pytest.approx(2.0)
    assert journal.of("stopping") == []


async def test_crash_isolation_under_one_for_one() -> None:
    """A crashing child never disturbs its siblings' state or mailboxes."""
    journal = Journal()
    sup = Supervisor(
        "actors",
        Strategy.ONE_FOR_ONE,
        [actor_child(journal, "left"), actor_child(journal, "crasher"), actor_child(journal, "right")],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        left, crasher, right = (c.value for c in sup.which_children())
        assert isinstance(left, LocalRef) and isinstance(crasher, LocalRef) and isinstance(right, LocalRef)
        holds = {name: Hold(trio.Event()) for name in ("left", "right")}
        for name, ref in (("left", left), ("right", right)):
            await ref.tell(Put(1))
            await ref.tell(holds[name])
            await holds[name].entered.wait()
            for i in range(2, 6):
                await ref.tell(Put(i))  # queued while the crash happens
        await crasher.tell(Put(7))
        with pytest.raises(ActorCrashed):
            await crasher.ask(Crash(), timeout=1)
        await settle()
        for hold in holds.values():
            hold.release.set()
        assert await left.ask(Get(), timeout=1) == [1, 2, 3, 4, 5]
        assert await right.ask(Get(), timeout=1) == [1, 2, 3, 4, 5]
        new_crasher = sup.which_children()[1].value
        assert new_crasher != crasher and not crasher.alive
        assert await new_crasher.ask(Get(), timeout=1) == []  # type: ignore[union-attr]
        assert [key for key, _ in journal.of("started")] == ["left", "crasher", "right", "crasher"]
        sup.request_stop()


async def test_registry_crash_storm_escalates_to_its_supervisor_which_restarts_it() -> None:
    journal = Journal()
    things = Registry("things", lambda key: Recorder(key, journal), intensity=1, period=60.0)
    sup = Supervisor("node", Strategy.ONE_FOR_ONE, [ChildSpec("things", things.run)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = things.ref("k")
        await ref.ask(Put(1), timeout=1)
        for key in ("x", "y"):
            with pytest.raises(ActorCrashed):
                await things.ref(key).ask(Crash(), timeout=1)
        await settle()
        assert things.running  # restarted by `node`
        assert await ref.ask(Get(), timeout=1) == []  # the restarted registry starts empty
        assert ("stopping", "k") in [(kind, key) for kind, key, _ in journal.events]
        sup.request_stop()
