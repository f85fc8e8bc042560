"""Timers deliver later, in deadline order, on Trio's clock (virtual here)."""

from __future__ import annotations

from functools import partial

import trio
from attrs import frozen

from runtime import Actor, serve_actor
from runtime._timers import COMPACT_AFTER, Timers


@frozen
class Ring:
    label: str


class Recorder(Actor):
    __slots__ = ("heard",)

    def __init__(self) -> None:
        self.heard: list[tuple[float, str]] = []

    async def receive(self, message: object) -> object:
        assert isinstance(message, Ring)
        self.heard.append((trio.current_time(), message.label))
        return None


async def test_messages_arrive_at_their_deadlines_in_order(autojump_clock: trio.abc.Clock) -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        timers = await nursery.start(Timers().run)
        ref = await nursery.start(partial(serve_actor, recorder, key="recorder"))
        start = trio.current_time()
        timers.send_after(3.0, ref, Ring("three"))
        timers.send_after(1.0, ref, Ring("one"))
        timers.send_after(2.0, ref, Ring("two"))
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert [(round(t - start, 3), label) for t, label in recorder.heard] == [(1.0, "one"), (2.0, "two"), (3.0, "three")]


async def test_cancelled_timer_never_fires(autojump_clock: trio.abc.Clock) -> None:
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        timers = await nursery.start(Timers().run)
        ref = await nursery.start(partial(serve_actor, recorder, key="recorder"))
        timers.send_after(1.0, ref, Ring("cancelled")).cancel()
        timers.send_after(2.0, ref, Ring("kept"))
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert [label for _, label in recorder.heard] == ["kept"]


async def test_timer_for_a_stopped_actor_is_dropped(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        timers = await nursery.start(Timers().run)
        ref = await nursery.start(partial(serve_actor, Recorder(), key="gone"))
        ref.request_stop()  # type: ignore[attr-defined]
        await trio.sleep(0.1)
        timers.send_after(1.0, ref, Ring("late"))
        await trio.sleep(2)
        assert len(timers) == 0, "delivered or dropped, never kept"
        nursery.cancel_scope.cancel()


async def test_set_and_cancel_churn_does_not_grow_the_heap(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        timers = await nursery.start(Timers().run)
        ref = await nursery.start(partial(serve_actor, Recorder(), key="flappy"))
        live = timers.send_after(60.0, ref, Ring("live"))
        for _ in range(10 * COMPACT_AFTER):
            timers.send_after(30.0, ref, Ring("flap")).cancel()
        assert len(timers) <= 2 * COMPACT_AFTER
        assert not live.cancelled
        nursery.cancel_scope.cancel()
