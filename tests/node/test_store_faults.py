"""A store that stops answering mid-run: the node says `unavailable`, drops nobody, and recovers.

The node talks to the real Cassandra through a TCP hop the test breaks
(tests/node/breaker.py), so its store goes away and comes back under it as
in an outage. A channel that cannot load its row while the store is away is
a failed activation, not a crash: before that was so, 21 of them within 5 s
made the channels registry give up and restart the gateway, dropping every
connection. (tests/operator/test_store_outage.py kills a Cassandra of its own
under a `chatnode serve` process; this suite looks at the node from inside.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
import trio

from actors import Node
from client import ByeEvent, Unavailable
from client import TypingEvent
from storage import ScyllaCluster, ScyllaStore, Store, StoreError

from .breaker import Breaker
from .conftest import node_config
from .people import new_device, next_event, online, queued_events, sign_up

T = TypeVar("T")

#: Seconds the driver may take to find the cluster again (it retries every 10 s at most).
RECOVERY = 60.0

#: Failed activations within a few seconds: more than the registry's restart intensity (20 in 5 s).
STORM = 30


@pytest.fixture
async def breaker(cql_contact_points: list[tuple[str, int]], nursery: trio.Nursery) -> Breaker:
    return await nursery.start(Breaker(cql_contact_points[0]).run)


@pytest.fixture
async def store(breaker: Breaker, scylla_cluster: ScyllaCluster) -> AsyncIterator[Store]:
    """A store on the test keyspace whose every connection goes through `breaker`."""
    opened = await ScyllaStore.open(
        [("127.0.0.1", breaker.port)], scylla_cluster.keyspace, replication_factor=1, create_schema=False
    )
    try:
        yield opened
    finally:
        await opened.aclose()


async def once_up(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`'s result as soon as the store answers again (bounded: a hang fails)."""
    with trio.fail_after(RECOVERY):
        while True:
            try:
                return await attempt()
            except (Unavailable, StoreError):
                await trio.sleep(0.5)


async def test_an_outage_is_answered_unavailable_drops_no_connection_and_heals(
    breaker: Breaker, store: Store, nursery: trio.Nursery
) -> None:
    node = await nursery.start(Node(node_config(), store).run)
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        online(node.url, await new_device(node.url, bob)) as b,
    ):
        direct = await a.direct(bob.user)
        group = await a.group("idle", [bob.user])
        acked = [await a.send(direct, "before")]
        # The group's actor goes, so that the next post must start it again.
        node.services.passivate_channel(group)
        with trio.fail_after(10):
            while node.services.channel_active(group):
                await trio.sleep(0.01)

        breaker.break_()
        with pytest.raises(StoreError):
            await store.get_user(alice.user)  # the store is away for real

        refused: list[int] = []

        async def sync(channel: int) -> None:
            with pytest.raises(Unavailable):
                await a.sync(channel, 0)
            refused.append(channel)

        async with trio.open_nursery() as storm:
            for channel in range(STORM):
                storm.start_soon(sync, 10**15 + channel)  # channels no actor holds: each must start
        assert len(refused) == STORM
        with pytest.raises(Unavailable), trio.fail_after(30):
            await a.send(group, "not stored")  # its channel cannot start: answered all the same
        with pytest.raises(Unavailable):
            await a.send(direct, "not stored either")  # the channel runs, its append fails

        # What needs no store goes on: the heartbeat, and typing in a running channel.
        await a.ping()
        await b.ping()
        await a.typing(direct)
        typing = await next_event(b, TypingEvent)
        assert (typing.channel, typing.user) == (direct, alice.user)
        assert not a.closed and not b.closed, "nobody was dropped"
        assert node.services.channels.running and node.gateway.connections == 2

        breaker.mend()
        acked.append(await once_up(lambda: a.send(direct, "after")))
        acked.append(await once_up(lambda: a.send(group, "after, in the group")))
        page = await b.sync(direct, 0)
        assert [m.body for m in page.messages] == ["before", "after"]
        assert [m.seq for m in page.messages] == [acked[0].seq, acked[1].seq]
        group_page = await b.sync(group, 0)
        assert [m.body for m in group_page.messages] == ["after, in the group"]
        assert not [event for event in queued_events(a) + queued_events(b) if isinstance(event, ByeEvent)]
        assert not a.closed and not b.closed
    await node.drain()


async def test_a_node_starts_while_its_membership_row_cannot_be_written(
    breaker: Breaker, store: Store, nursery: trio.Nursery
) -> None:
    breaker.break_()
    config = node_config()
    node = await nursery.start(Node(config, store).run)  # starts all the same
    with pytest.raises(StoreError):
        await store.live_nodes()
    breaker.mend()

    async def listed() -> None:
        if config.node_id not in [record.node for record in await store.live_nodes()]:
            raise StoreError("not listed yet")

    await once_up(listed)  # the next refresh wrote it
    await node.drain()
