"""Failed activations: a declared transient error in `started()` refuses the mail, crashes nothing.

An actor that loads its state from a store cannot start while the store is
down. That is the store's outage, not the actor's bug: the registry must
refuse the mail waiting on that activation with `ActivationFailed`, never
count it toward its restart intensity (21 failures in 5 s would otherwise
take the registry, and everything supervised after it, down), and activate
afresh once the store answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

import pytest
import trio
import trio.testing
from attrs import define, field

from runtime import ActivationFailed, ActorCrashed, ActorDead, ActorError, Registry, SupervisorGaveUp

from .conftest import Crash, Get, Hold, Journal, Put, Recorder


class Outage(Exception):
    """What the test's store raises while it is down."""


@define
class Source:
    """What the actors start from: up or down, and optionally a gate their `started()` waits at."""

    up: bool = True
    gate: trio.Event | None = None
    error: type[Exception] = Outage
    entered: trio.Event = field(factory=trio.Event)

    async def load(self) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if not self.up:
            raise self.error("store down")


@define
class Undelivered:
    """What `undelivered` was handed: the message and the error, per call."""

    calls: list[tuple[object, ActorError]] = field(factory=list)


class Loader(Recorder):
    __slots__ = ("source", "undelivered_log")

    transient_errors = (Outage,)

    def __init__(self, key: Hashable, journal: Journal, source: Source, undelivered: Undelivered) -> None:
        super().__init__(key, journal)
        self.source = source
        self.undelivered_log = undelivered

    async def started(self) -> None:
        await self.source.load()
        await super().started()

    def undelivered(self, message: object, error: ActorError) -> None:
        self.undelivered_log.calls.append((message, error))


def loaders(source: Source, undelivered: Undelivered, journal: Journal, **options: object) -> Registry:
    settings: dict[str, object] = {"mailbox_size": 2, "intensity": 3, "period": 5.0}
    settings.update(options)
    return Registry(
        "loaders",
        lambda key: Loader(key, journal, source, undelivered),
        **settings,  # type: ignore[arg-type]
    )


async def test_failed_activation_refuses_every_waiter_with_its_cause(autojump_clock: trio.abc.Clock) -> None:
    source, undelivered, journal = Source(up=False, gate=trio.Event()), Undelivered(), Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(loaders(source, undelivered, journal).run)
        ref = things.ref("k")
        refusals: list[tuple[str, BaseException]] = []

        async def ask() -> None:
            try:
                await ref.ask(Get(), timeout=60)
            except ActorError as exc:
                refusals.append(("ask", exc))

        async def tell_when_full() -> None:
            try:
                await ref.tell(Put(3))
            except ActorError as exc:
                refusals.append(("parked tell", exc))

        nursery.start_soon(ask)
        await source.entered.wait()  # started() runs, with the ask in the mailbox
        await ref.tell(Put(1))  # queued: the mailbox (2) is full now
        nursery.start_soon(tell_when_full)  # waits for space
        await trio.testing.wait_all_tasks_blocked()
        source.gate.set()
        await trio.testing.wait_all_tasks_blocked()

        assert sorted(kind for kind, _ in refusals) == ["ask", "parked tell"]
        for _, exc in refusals:
            assert type(exc) is ActivationFailed
            assert isinstance(exc, ActorDead), "callers that retry on ActorDead need nothing more"
            assert isinstance(exc.reason, Outage) and exc.__cause__ is exc.reason
            assert exc.key == "k"
        ((message, error),) = undelivered.calls
        assert message == Put(1), "the queued tell went to undelivered"
        assert type(error) is ActivationFailed
        assert journal.of("put") == [], "nothing was processed"
        assert len(things) == 0 and things.running
        things.request_stop()


async def test_an_outage_never_exhausts_the_intensity_and_the_registry_recovers(
    autojump_clock: trio.abc.Clock,
) -> None:
    source, journal = Source(up=False), Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(loaders(source, Undelivered(), journal, intensity=3, period=5.0).run)
        for attempt in range(50):  # far more than 3 within 5 s
            with pytest.raises(ActivationFailed):
                await things.ref(attempt % 5).ask(Put(attempt), timeout=1)
            await trio.sleep(0.01)
        assert things.running, "no failed activation counted as a crash"
        source.up = True
        assert await things.ref(0).ask(Put(100), timeout=1) == 100
        assert await things.ref(0).ask(Get(), timeout=1) == [100], "a fresh instance, started once the store is back"
        assert len(journal.of("started")) == 1
        things.request_stop()


async def test_an_undeclared_error_in_started_is_still_a_crash_and_counts(autojump_clock: trio.abc.Clock) -> None:
    source = Source(up=False, error=ValueError)
    things = loaders(source, Undelivered(), Journal(), intensity=3, period=5.0)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp, match="loaders")):
        async with trio.open_nursery() as nursery:
            await nursery.start(things.run)
            for key in range(4):
                with pytest.raises(ActorCrashed, match="store down"):
                    await things.ref(key).ask(Get(), timeout=1)
            await trio.sleep_forever()


async def test_failed_activations_are_logged_once_per_interval(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="runtime")
    source = Source(up=False)
    async with trio.open_nursery() as nursery:
        things = await nursery.start(loaders(source, Undelivered(), Journal()).run)

        async def fail(count: int) -> None:
            for key in range(count):
                with pytest.raises(ActivationFailed):
                    await things.ref(key).ask(Get(), timeout=1)

        await fail(100)
        (first,) = [r for r in caplog.records if "activations failed" in r.getMessage()]
        assert first.levelno == logging.WARNING and first.exc_info is None, "one line, no traceback"
        assert "'loaders'" in first.getMessage() and "store down" in first.getMessage()
        await trio.sleep(11)
        await fail(3)
        lines = [r.getMessage() for r in caplog.records if "activations failed" in r.getMessage()]
        assert len(lines) == 2
        assert lines[1].startswith("registry 'loaders': 100 activations failed"), lines[1]
        things.request_stop()


async def test_a_crash_hands_the_tells_it_drops_to_undelivered() -> None:
    undelivered, journal = Undelivered(), Journal()
    async with trio.open_nursery() as nursery:
        things = await nursery.start(loaders(Source(), undelivered, journal, mailbox_size=8).run)
        ref = things.ref("k")
        hold = Hold(trio.Event())
        await ref.tell(hold)
        await hold.entered.wait()
        await ref.tell(Crash())
        await ref.tell(Put(1))
        await ref.tell(Put(2))
        hold.release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert [message for message, _ in undelivered.calls] == [Put(1), Put(2)]
        assert all(type(error) is ActorCrashed for _, error in undelivered.calls)
        things.request_stop()

