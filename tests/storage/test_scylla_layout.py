"""Partition sizing, checked through plain CQL reads of what an append stored.

A messages partition must stay small whatever the bodies: ~1000 rows of at
most ~2 KB of body each. Big bodies therefore live in a table of their own,
and the messages row holds none (not even a null: the cell is never written).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import trio

from storage import PushTarget, ScyllaCluster, ScyllaStore
from storage._cql_schema import schema_statements

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


async def test_an_out_of_line_body_has_its_size_in_the_messages_row(scylla_cluster: ScyllaCluster) -> None:
    store = ScyllaStore(scylla_cluster)
    channel = new_id()
    lease = await store.take_lease(channel)
    big = message(channel, 1, body="\u00e9" * 1500)  # 3,000 bytes: out of line
    small = message(channel, 2, body="a" * 2048)
    await append(store, lease, big, small)
    rows = await cql(
        scylla_cluster, "SELECT seq, big, size FROM messages WHERE channel = %s AND bucket = 0", channel
    )
    assert rows == [(1, True, 3000), (2, False, None)], "no size cell (not even a null) for an inline body"


async def test_a_big_row_without_a_size_counts_as_the_largest_body(scylla_cluster: ScyllaCluster) -> None:
    """Rows written before the size column existed: a read cannot know their
    size before it fetches them, so it assumes the worst."""
    store = ScyllaStore(scylla_cluster)
    channel = new_id()
    lease = await store.take_lease(channel)
    written = [message(channel, seq, body="b" * 3000) for seq in (1, 2)]
    await append(store, lease, *written)
    await cql(
        scylla_cluster, "DELETE size FROM messages WHERE channel = %s AND bucket = 0 AND seq IN (1, 2)", channel
    )
    assert await store.read_range(channel, 0, 2, 10, max_bytes=799_999) == written[:1]
    assert await store.read_range(channel, 0, 2, 10, max_bytes=800_000) == written
    assert await store.read_range(channel, 0, 2, 10) == written


async def test_schema_adds_the_columns_of_later_releases_to_a_keyspace_made_before_them(
    scylla_cluster: ScyllaCluster, cql_contact_points: list[tuple[str, int]]
) -> None:
    keyspace = f"chat_old_{new_id() % 10**9}"
    current = schema_statements(keyspace, "datacenter1", 1)
    earlier = [
        re.sub(r", registered bigint,\s+preview boolean, preview_key blob", "", statement.replace(", size int", ""))
        for statement in current
    ]
    assert sum(a != b for a, b in zip(earlier, current)) == 2, "no size in messages, no registration in push_targets"
    session = scylla_cluster.session
    for statement in earlier:
        await trio.to_thread.run_sync(session.execute, statement)
    user, device = new_id(), new_id()
    await cql(
        scylla_cluster,
        f"INSERT INTO {keyspace}.push_targets (user, device, kind, endpoint, fields)"
        " VALUES (%s, %s, 'fcm', 'token', []) USING TIMESTAMP 1700000000123456",
        user,
        device,
    )
    try:
        upgraded = await trio.to_thread.run_sync(
            partial(ScyllaCluster.connect, cql_contact_points, keyspace, replication_factor=1, create_schema=True)
        )
        try:
            store = ScyllaStore(upgraded)
            channel = new_id()
            lease = await store.take_lease(channel)
            big = message(channel, 1, body="c" * 5000)
            await append(store, lease, big)
            assert await store.read_range(channel, 0, 1, 1, max_bytes=1) == [big]
            assert await cql(
                upgraded, "SELECT size FROM messages WHERE channel = %s AND bucket = 0", channel
            ) == [(5000,)]
            # A target stored before registration times were: its write's ms is its time.
            old = PushTarget("fcm", "token", (), 1_700_000_000_123)
            assert await store.push_targets(user) == {device: old}
            await store.remove_push_target(user, device, old.registered)
            assert await store.push_targets(user) == {}
            # Again: nothing left to add, and no error for what is there.
            await trio.to_thread.run_sync(upgraded.create_schema)
        finally:
            await trio.to_thread.run_sync(upgraded.shutdown)
    finally:
        await trio.to_thread.run_sync(session.execute, f"DROP KEYSPACE IF EXISTS {keyspace}")
