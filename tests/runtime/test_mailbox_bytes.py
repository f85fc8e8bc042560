"""Mailboxes bounded by what their mail costs (bytes), not only by how many messages they hold.

A chat message may carry 400 KB: 1,024 of them in one mailbox would hold
400 MB. With a `mail_cost`, a registry's mailboxes hold at most
`mailbox_bytes` of it, and a mailbox full in bytes behaves as one full in
messages: `tell` and `ask` wait for space, `tell_nowait` raises
`MailboxFull`, and the order stays first in, first out.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from attrs import define, field, frozen

from runtime import Actor, MailboxFull, Registry

from .conftest import Hold


@frozen
class Blob:
    size: int


@define
class Received:
    sizes: list[int] = field(factory=list)


class Sink(Actor):
    __slots__ = ("received",)

    def __init__(self, received: Received) -> None:
        self.received = received

    async def receive(self, message: object) -> object:
        if isinstance(message, Hold):
            message.entered.set()
            await message.release.wait()
        elif isinstance(message, Blob):
            self.received.sizes.append(message.size)
        return None


def blob_cost(message: object) -> int:
    return message.size if isinstance(message, Blob) else 0


def sinks(received: Received, *, budget: int = 100, mailbox_size: int = 64) -> Registry:
    return Registry(
        "sinks", lambda _key: Sink(received), mailbox_size=mailbox_size, mailbox_bytes=budget, mail_cost=blob_cost
    )


async def held(ref: object) -> Hold:
    """The actor is busy inside `receive` (its mailbox empty) until the hold is released."""
    hold = Hold(trio.Event())
    await ref.tell(hold)  # type: ignore[attr-defined]
    await hold.entered.wait()
    return hold


async def test_tell_nowait_is_refused_once_the_bytes_are_used_up() -> None:
    received = Received()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(sinks(received, budget=100).run)
        ref = things.ref("k")
        hold = await held(ref)
        ref.tell_nowait(Blob(60))
        ref.tell_nowait(Blob(40))  # exactly the budget
        with pytest.raises(MailboxFull, match="100 bytes") as refused:
            ref.tell_nowait(Blob(1))  # two messages of 64: full in bytes, not in count
        assert refused.value.budget == 100 and refused.value.capacity == 64
        hold.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert received.sizes == [60, 40]
        ref.tell_nowait(Blob(100))  # the room came back
        things.request_stop()


async def test_tell_and_ask_wait_for_room_and_keep_their_order() -> None:
    received = Received()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(sinks(received, budget=100).run)
        ref = things.ref("k")
        hold = await held(ref)
        await ref.tell(Blob(90))
        order: list[str] = []

        async def tell(size: int) -> None:
            await ref.tell(Blob(size))
            order.append(f"tell {size}")

        async def ask(size: int) -> None:
            await ref.ask(Blob(size), timeout=60)
            order.append(f"ask {size}")

        nursery.start_soon(tell, 50)
        await trio.testing.wait_all_tasks_blocked()
        # 5 would fit in the budget, but a parked sender came first.
        with pytest.raises(MailboxFull):
            ref.tell_nowait(Blob(5))
        nursery.start_soon(ask, 5)
        await trio.testing.wait_all_tasks_blocked()
        assert order == [], "both wait for room"
        hold.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert received.sizes == [90, 50, 5], "first in, first out"
        assert sorted(order) == ["ask 5", "tell 50"]
        things.request_stop()


async def test_one_message_out_lets_in_every_waiting_one_that_fits() -> None:
    received = Received()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(sinks(received, budget=100).run)
        ref = things.ref("k")
        hold = await held(ref)
        await ref.tell(Blob(100))
        hold2 = Hold(trio.Event())
        await ref.tell(hold2)  # costs nothing: fits behind the 100
        admitted: list[int] = []

        async def tell(n: int) -> None:
            await ref.tell(Blob(25))
            admitted.append(n)

        for n in range(4):
            nursery.start_soon(tell, n)
            await trio.testing.wait_all_tasks_blocked()
        assert admitted == []
        hold.release.set()
        await hold2.entered.wait()
        await trio.testing.wait_all_tasks_blocked()
        # The 100 went out and all four 25s came in at once, while the actor
        # still holds on the message queued before them.
        assert sorted(admitted) == [0, 1, 2, 3]
        assert received.sizes == [100]
        hold2.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert received.sizes == [100, 25, 25, 25, 25]
        things.request_stop()


async def test_a_message_over_the_whole_budget_still_goes_into_an_empty_mailbox() -> None:
    received = Received()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(sinks(received, budget=100).run)
        ref = things.ref("k")
        hold = await held(ref)
        ref.tell_nowait(Blob(1000))  # a bound, never a wall
        with pytest.raises(MailboxFull):
            ref.tell_nowait(Blob(1))
        hold.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert received.sizes == [1000]
        things.request_stop()


async def test_the_count_still_bounds_mail_that_costs_nothing() -> None:
    received = Received()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(sinks(received, budget=100, mailbox_size=2).run)
        ref = things.ref("k")
        hold = await held(ref)
        ref.tell_nowait(Blob(0))
        ref.tell_nowait(Blob(0))
        with pytest.raises(MailboxFull, match="2 messages"):
            ref.tell_nowait(Blob(0))
        hold.release.set()
        things.request_stop()


def test_a_byte_budget_needs_a_cost_and_the_other_way_round() -> None:
    with pytest.raises(ValueError, match="together"):
        Registry("sinks", lambda _key: Sink(Received()), mailbox_bytes=100)
    with pytest.raises(ValueError, match="together"):
        Registry("sinks", lambda _key: Sink(Received()), mail_cost=blob_cost)
    with pytest.raises(ValueError, match="at least 1"):
        Registry("sinks", lambda _key: Sink(Received()), mailbox_bytes=0, mail_cost=blob_cost)
