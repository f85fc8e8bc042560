"""Registry hooks the chat relies on: `is_active` and declining passivation."""

from __future__ import annotations

from collections.abc import Hashable

import trio
from attrs import frozen

from runtime import Actor, Registry


@frozen
class Hold:
    keep: bool


class Holder(Actor):
    __slots__ = ("keep",)

    def __init__(self) -> None:
        self.keep = False

    async def receive(self, message: object) -> object:
        assert isinstance(message, Hold)
        self.keep = message.keep
        return None

    def may_passivate(self) -> bool:
        return not self.keep


def holder(_key: Hashable) -> Holder:
    return Holder()


async def test_is_active_follows_activation_and_never_activates(autojump_clock: trio.abc.Clock) -> None:
    registry = Registry("holders", holder, idle_after=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(registry.run)
        assert not registry.is_active("a")
        assert not registry.is_active("a"), "asking did not activate it"
        await registry.ref("a").ask(Hold(keep=False), timeout=1)
        assert registry.is_active("a")
        await trio.sleep(30)
        assert not registry.is_active("a"), "passivated once idle"
        nursery.cancel_scope.cancel()


async def test_an_actor_may_decline_passivation_until_it_lets_go(autojump_clock: trio.abc.Clock) -> None:
    registry = Registry("holders", holder, idle_after=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(registry.run)
        await registry.ref("k").ask(Hold(keep=True), timeout=1)
        await trio.sleep(100)
        assert registry.is_active("k"), "declined: still active long after idle_after"
        await registry.ref("k").ask(Hold(keep=False), timeout=1)
        await trio.sleep(30)
        assert not registry.is_active("k"), "passivated after it let go"
        nursery.cancel_scope.cancel()
