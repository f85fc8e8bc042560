"""The Trio bridge: store calls wait without holding up the event loop, and
a cancelled call leaves nothing broken behind it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import pytest
import trio

from storage import ScyllaCluster, ScyllaStore, Store, User

from .fresh import NOW, append, message, new_id, new_name


async def test_calls_never_block_the_event_loop(scylla_cluster: ScyllaCluster) -> None:
    store = ScyllaStore(scylla_cluster)
    done = False
    # The most requests the driver had out at the database at any moment the
    # loop ran another task. A call that waited for its answer on the loop
    # (a synchronous query) would keep this at 0: its request is finished
    # before the loop runs anything else.
    most_waiting = 0

    async def ticker() -> None:
        nonlocal most_waiting
        while not done:
            pools = scylla_cluster.session.get_pool_state().values()
            waiting = sum(sum(pool["in_flights"]) for pool in pools)
            most_waiting = max(most_waiting, waiting)
            await trio.sleep(0)

    calls = _mixed_calls(store, 200)
    finished = 0

    async def run(call: Callable[[], Awaitable[object]]) -> None:
        nonlocal finished
        await call()
        finished += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        async with trio.open_nursery() as queries:
            for call in calls:
                queries.start_soon(run, call)
        done = True
    assert finished == len(calls)
    # Heartbeats aside, many of the 200 are out at once, the loop running meanwhile.
    assert most_waiting > 10


def _mixed_calls(store: Store, count: int) -> list[Callable[[], Awaitable[object]]]:
    """Reads and writes of every kind the store does: plain, paged, LWT, fenced."""
    channel = new_id()
    kinds: list[Callable[[int], Callable[[], Awaitable[object]]]] = [
        lambda i: lambda: store.get_user(new_id()),
        lambda i: lambda: store.create_user(new_user()),
        lambda i: lambda: store.last_seqs([channel, new_id()]),
        lambda i: lambda: store.read_range(channel, 0, 10, 10),
        lambda i: lambda: store.user_channels(new_id()),
        lambda i: lambda: store.open_direct(new_id(), new_id(), new_id(), NOW),
        lambda i: lambda: _lease_and_append(store),
        lambda i: lambda: store.advance_read_marker(new_id(), channel, i),
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


def new_user() -> User:
    return User(new_id(), new_name("user"), b"not a real hash", NOW)


async def _lease_and_append(store: Store) -> None:
    channel = new_id()
    lease = await store.take_lease(channel)
    await append(store, lease, message(channel, 1))


async def test_a_cancelled_call_leaves_the_store_usable(scylla_cluster: ScyllaCluster) -> None:
    store = ScyllaStore(scylla_cluster)
    user = new_user()
    # Cancelled while the query is in flight: its answer arrives later, to
    # nobody, and must neither raise anywhere nor wake a later call.
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.create_user(user)
    assert scope.cancelled_caught
    for _ in range(20):
        with trio.move_on_after(0):
            await store.get_user(user.user)
    assert await store.get_user(new_id()) is None
    await store.create_user(user)
    assert await store.get_user(user.user) == user


def test_a_call_cancelled_at_the_end_of_a_run_does_not_break_the_next_run(
    scylla_cluster: ScyllaCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # The late answers find their trio.run gone: the bridge's callback, on
    # the driver's I/O thread, must not fail (the driver would log and drop
    # the error), and the cluster serves the next run as before.
    store = ScyllaStore(scylla_cluster)

    async def abandon() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(store.get_user, new_id())
            await trio.sleep(0)
            nursery.cancel_scope.cancel()

    async def use() -> object:
        return await store.get_user(new_id())

    with caplog.at_level(logging.WARNING, logger="cassandra"):
        for _ in range(5):
            trio.run(abandon)
        _wait_until_answered(scylla_cluster)
    assert [record.getMessage() for record in caplog.records] == []
    assert trio.run(use) is None


def _wait_until_answered(cluster: ScyllaCluster) -> None:
    """Until the driver has no request out (a bound on a hang, not a timing check)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pools = cluster.session.get_pool_state().values()
        if sum(sum(pool["in_flights"]) for pool in pools) == 0:
            return
        time.sleep(0.01)
    raise AssertionError("driver requests still out after 60 s")
