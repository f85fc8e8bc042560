"""Partition sizing, checked through plain CQL reads of what an append stored.

A messages partition must stay small whatever the bodies: ~1000 rows of at
most ~2 KB of body each. Big bodies therefore live in a table of their own,
and the messages row holds none (not even a null: the cell is never written).
"""

from __future__ import annotations

from typing import Any

import trio

from storage import ScyllaCluster, ScyllaStore

from .fresh import append, message, new_id


async def cql(cluster: ScyllaCluster, query: str, *params: object) -> list[tuple[Any, ...]]:
    result = await trio.to_thread.run_sync(cluster.session.execute, query, params)
    return list(result)


async def test_a_big_body_is_stored_out_of_line(scylla_cluster: ScyllaCluster) -> None:
    store = ScyllaStore(scylla_cluster)
    channel = new_id()
    lease = await store.take_lease(channel)
    big = message(channel, 1, body="\U0001f600" * 100_000)  # ~400 KB of UTF-8
    small = message(channel, 2, body="a" * 2048)  # the largest inline body
    await append(store, lease, big)
    await append(store, lease, small)

    rows = await cql(
        scylla_cluster,
        "SELECT seq, big, body FROM messages WHERE channel = %s AND bucket = 0",
        channel,
    )
    assert rows == [(1, True, None), (2, False, small.body)]
    assert await cql(
        scylla_cluster,
        "SELECT body FROM message_bodies WHERE channel = %s AND seq = %s",
        channel,
        1,
    ) == [(big.body,)]
    assert await cql(
        scylla_cluster, "SELECT seq FROM message_bodies WHERE channel = %s AND seq = %s", channel, 2
    ) == []
    assert await store.read_range(channel, 0, 2, 2) == [big, small]


async def test_a_big_body_writes_no_null_into_the_messages_row(
    scylla_cluster: ScyllaCluster,
) -> None:
    # A null would be a tombstone; an unset value writes no cell. The
    # difference shows on a cell written before: a null deletes it, unset
    # leaves it. Here that cell is a fenced holder's inline body at the seq
    # (its epoch-0 write time is older than any lease's).
    store = ScyllaStore(scylla_cluster)
    channel = new_id()
    await cql(
        scylla_cluster,
        "INSERT INTO messages (channel, bucket, seq, body) VALUES (%s, 0, 1, 'older')"
        " USING TIMESTAMP 1",
        channel,
    )
    lease = await store.take_lease(channel)
    big = message(channel, 1, body="b" * 2049)
    await append(store, lease, big)

    assert await cql(
        scylla_cluster,
        "SELECT big, body FROM messages WHERE channel = %s AND bucket = 0 AND seq = 1",
        channel,
    ) == [(True, "older")]
    assert await store.read_range(channel, 0, 1, 1) == [big]


async def test_messages_are_split_into_buckets_of_a_thousand_seqs(
    scylla_cluster: ScyllaCluster,
) -> None:
    store = ScyllaStore(scylla_cluster)
    channel = new_id()
    lease = await store.take_lease(channel)
    # Seqs need not start at 1 for this: a lease may be used from any seq on.
    for seq in (998, 999, 1000, 1001):
        await append(store, lease, message(channel, seq))

    async def seqs(bucket: int) -> list[int]:
        rows = await cql(
            scylla_cluster,
            "SELECT seq FROM messages WHERE channel = %s AND bucket = %s",
            channel,
            bucket,
        )
        return [seq for (seq,) in rows]

    assert await seqs(0) == [998, 999]
    assert await seqs(1) == [1000, 1001]
