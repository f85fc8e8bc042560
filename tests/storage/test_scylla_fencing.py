"""Fencing between two nodes: each test runs two ScyllaStores on two separate
driver connections (two "nodes") against the shared test keyspace.

The contract suite checks fencing on one store; these tests also pin the
order of arrival that only a distributed store has: a zombie's write that
reaches the cluster after the new holder's.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
import trio

from storage import Dedup, Fenced, Message, ScyllaCluster, ScyllaStore

from .fresh import append, draft, message, new_id


@pytest.fixture(scope="module")
def other_node(
    scylla_cluster: ScyllaCluster, cql_contact_points: list[tuple[str, int]]
) -> Iterator[ScyllaCluster]:
    """A second connection to the test keyspace: another chat node."""
    cluster = ScyllaCluster.connect(cql_contact_points, scylla_cluster.keyspace)
    try:
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def nodes(
    scylla_cluster: ScyllaCluster, other_node: ScyllaCluster
) -> tuple[ScyllaStore, ScyllaStore]:
    return ScyllaStore(scylla_cluster), ScyllaStore(other_node)


async def test_zombie_append_after_takeover_is_fenced_and_the_new_seq_stands(
    nodes: tuple[ScyllaStore, ScyllaStore],
) -> None:
    old, new = nodes
    channel = new_id()
    zombie_lease = await old.take_lease(channel)
    one = message(channel, 1)
    await append(old, zombie_lease, one)

    lease = await new.take_lease(channel)
    assert lease.last == 1
    two = message(channel, 2, body="the new holder's")
    await append(new, lease, two)
    # The zombie's write of the same seq reaches the cluster after the new
    # holder's: it must not replace it (its write timestamp is older).
    zombie = message(channel, 2, body="the zombie's")
    with pytest.raises(Fenced):
        await append(old, zombie_lease, zombie)

    for store in nodes:
        assert await store.read_range(channel, 0, 10, 10) == [one, two]
        assert await store.last_seqs([channel]) == {channel: 2}
    # The zombie's dedup entry names seq 2, which is the new holder's
    # message: a retry of the zombie's send is a new send, not a repeat.
    retried = attrs.evolve(zombie, seq=3)
    assert await new.append(lease, 2, [draft(zombie), draft(two)]) == [
        retried,
        Dedup(channel, 2, two.ts),
    ]
    assert await old.read_range(channel, 0, 10, 10) == [one, two, retried]


async def test_a_fenced_write_above_the_new_head_stays_invisible(
    nodes: tuple[ScyllaStore, ScyllaStore],
) -> None:
    old, new = nodes
    channel = new_id()
    zombie_lease = await old.take_lease(channel)
    one = message(channel, 1)
    await append(old, zombie_lease, one)
    lease = await new.take_lease(channel)

    # The zombie's rows land (Fenced is raised after the writes), at the seq
    # the new holder will use next and beyond it.
    ahead = [message(channel, seq, body=f"zombie {seq}") for seq in (2, 3)]
    for zombie in ahead:
        with pytest.raises(Fenced):
            await append(old, zombie_lease, zombie)

    far = 100  # past the zombie rows (a far bound is the contract suite's)
    for store in nodes:
        assert await store.last_seqs([channel]) == {channel: 1}
        assert await store.read_range(channel, 0, far, 10) == [one]
        assert await store.read_before(channel, far, 10) == [one]

    # A later takeover does not adopt them either: they were never acknowledged
    # and the holder in between never wrote past seq 1.
    third = await old.take_lease(channel)
    assert third.last == 1
    two = message(channel, 2)
    await append(old, third, two)
    with pytest.raises(Fenced):
        await append(new, lease, message(channel, 2))
    assert await new.read_range(channel, 0, far, 10) == [one, two]
    # The zombie's dedup entries name seqs 2 (now another message) and 3
    # (above `last`): retries of its sends are new sends.
    retried = [attrs.evolve(zombie, seq=seq) for zombie, seq in zip(ahead, (3, 4))]
    assert await old.append(third, 2, [draft(two), *map(draft, ahead)]) == [
        Dedup(channel, 2, two.ts),
        *retried,
    ]
    assert await new.read_range(channel, 0, far, 10) == [one, two, *retried]


@pytest.mark.parametrize("dedup_written", [True, False], ids=["with-dedup", "dedup-lost"])
async def test_a_takeover_adopts_what_a_crashed_holder_stored(
    nodes: tuple[ScyllaStore, ScyllaStore], scylla_cluster: ScyllaCluster, dedup_written: bool
) -> None:
    old, new = nodes
    channel = new_id()
    lease = await old.take_lease(channel)
    stored = [message(channel, seq) for seq in (1, 2)]
    await append(old, lease, *stored)
    # The holder crashes after writing seq 3's rows but before moving the
    # head: the rows are written here as its append would write them, maybe
    # without the dedup entry (another partition, so it may be lost alone).
    crashed = message(channel, 3, body="written, never acknowledged")
    await _write_rows_only(scylla_cluster, lease.epoch, crashed, dedup=dedup_written)
    assert await new.last_seqs([channel]) == {channel: 2}

    takeover = await new.take_lease(channel)
    assert takeover.last == 3
    assert await new.read_range(channel, 0, 10, 10) == [*stored, crashed]
    assert await new.append(takeover, 3, [draft(crashed)]) == [Dedup(channel, 3, crashed.ts)]


async def test_leases_taken_concurrently_get_distinct_epochs(
    nodes: tuple[ScyllaStore, ScyllaStore],
) -> None:
    channel = new_id()
    epochs: list[int] = []

    async def take(store: ScyllaStore) -> None:
        epochs.append((await store.take_lease(channel)).epoch)

    async with trio.open_nursery() as nursery:
        for store in (*nodes, *nodes):
            nursery.start_soon(take, store)
    assert sorted(epochs) == [1, 2, 3, 4]


async def test_appends_committing_together_are_fenced_each_by_its_own_lease(
    nodes: tuple[ScyllaStore, ScyllaStore],
) -> None:
    """Concurrent appends of many channels share head commits (more channels
    than one head statement holds); a takeover fences only its channel."""
    old, new = nodes
    channels = [new_id() for _ in range(25)]
    leases = {channel: await old.take_lease(channel) for channel in channels}
    taken = set(channels[::4])
    for channel in taken:
        await new.take_lease(channel)
    outcomes: dict[int, object] = {}

    async def append_one(channel: int) -> None:
        try:
            outcomes[channel] = await old.append(leases[channel], 0, [draft(message(channel, 1))])
        except Fenced:
            outcomes[channel] = Fenced

    async with trio.open_nursery() as nursery:
        for channel in channels:
            nursery.start_soon(append_one, channel)
    assert {channel for channel, got in outcomes.items() if got is Fenced} == taken
    lasts = await new.last_seqs(channels)
    assert lasts == {channel: 0 if channel in taken else 1 for channel in channels}


async def _write_rows_only(cluster: ScyllaCluster, epoch: int, m: Message, *, dedup: bool) -> None:
    """The message (and dedup) rows an append writes, without its head write."""
    stamp = (epoch << 40) + m.seq
    bucket = m.seq // 1000
    rows = [
        (
            "INSERT INTO messages (channel, bucket, seq, sender, device, ts, cid, big, body)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, false, %s) USING TIMESTAMP %s",
            (m.channel, bucket, m.seq, m.sender, m.device, m.ts, m.cid, m.body, stamp),
        ),
        (
            "INSERT INTO dedup (sender, cid, channel, seq, ts) VALUES (%s, %s, %s, %s, %s)"
            " USING TIMESTAMP %s",
            (m.sender, m.cid, m.channel, m.seq, m.ts, stamp),
        ),
    ]
    for cql, params in rows if dedup else rows[:1]:
        await trio.to_thread.run_sync(cluster.session.execute, cql, params)
