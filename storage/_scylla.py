"""ScyllaStore: the Store on a ScyllaDB (or Apache Cassandra) cluster.

Each method is a handful of prepared statements awaited through the Trio
bridge (_trio_cql); independent statements of one call run concurrently.
Lightweight transactions only where two writers race: the username claim,
the direct pair claim and the sequence lease (_scylla_messages).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import trio
from cassandra.query import Statement

from protocol import ChannelKind, NotifyLevel

from . import _scylla_messages as messages
from ._api import Store
from ._errors import StoreError, UsernameTaken
from ._scylla_cluster import ScyllaCluster
from ._scylla_heads import HeadCommits
from ._trio_cql import execute, execute_all, fetch, new_batch, send
from ._values import (
    Activity,
    Channel,
    Dedup,
    Device,
    Draft,
    Message,
    NodeRecord,
    Notify,
    PushTarget,
    SeqLease,
    Unread,
    User,
)

# Rows per page when reading a whole partition (members, devices, ...).
_PAGE_ROWS = 1000

# Member rows per single-partition batch: well under the server's 5 KiB
# batch warning threshold.
_MEMBERS_PER_BATCH = 100

# Write timestamps are µs; times in the store are ms.
_US_PER_MS = 1000

# The `until` of a notify level set for good (never a null).
_NEVER = (1 << 63) - 1

# Devices' activity per batch: two partitions each (the device's user in
# `devices` and in `user_activity`), under the warning at ten partitions.
_ACTIVITY_PER_BATCH = 5


class ScyllaStore(Store):
    """The Store on a CQL cluster. `await ScyllaStore.open(...)`, or wrap a ScyllaCluster.

    Cheap to make: many stores (and many `trio.run()`s) may share one
    ScyllaCluster; only a store made by `open` shuts its cluster down on aclose.
    """

    def __init__(self, cluster: ScyllaCluster, *, owns_cluster: bool = False) -> None:
        self._cluster: ScyllaCluster | None = cluster
        self._owns_cluster = owns_cluster
        self._heads = HeadCommits(cluster)

    @classmethod
    async def open(
        cls,
        contact_points: Sequence[tuple[str, int]],
        keyspace: str,
        **options: Any,
    ) -> ScyllaStore:
        """Connect on a worker thread; `options` are ScyllaCluster.connect's."""
        connect = functools.partial(ScyllaCluster.connect, contact_points, keyspace, **options)
        return cls(await trio.to_thread.run_sync(connect), owns_cluster=True)

    async def aclose(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None and self._owns_cluster:
            await trio.to_thread.run_sync(cluster.shutdown)

    @property
    def _live(self) -> ScyllaCluster:
        if self._cluster is None:
            raise StoreError("the store is closed")
        return self._cluster

    # -- accounts -------------------------------------------------------------

    async def create_user(self, user: User) -> None:
        cluster = self._live
        st = cluster.statements
        claim = await execute(
            cluster.session,
            st.claim_username,
            (user.username, user.user, user.password_hash, user.created),
        )
        if not claim.was_applied:
            holder = claim.one()[claim.column_names.index("user")]
            # Our own claim, answered ambiguously before (a timeout) and
            # retried: finish it rather than refuse it.
            if holder != user.user:
                raise UsernameTaken(user.username)
        await execute(
            cluster.session,
            st.insert_user,
            (user.user, user.username, user.password_hash, user.created),
        )

    async def user_by_name(self, username: str) -> User | None:
        cluster = self._live
        row = (await execute(cluster.session, cluster.statements.user_by_name, (username,))).one()
        return None if row is None else User(*row)

    async def get_user(self, user: int) -> User | None:
        cluster = self._live
        row = (await execute(cluster.session, cluster.statements.user, (user,))).one()
        return None if row is None else User(*row)

    async def set_password_hash(self, user: User, password_hash: bytes) -> None:
        # users_by_name is written by LWT (the username claim), so its update
        # is one too: conditional on the claim's owner, it can never write a
        # row for a name nobody holds, and it is ordered with the claim.
        cluster = self._live
        st = cluster.statements
        await execute_all(
            cluster.session,
            [
                (st.set_password_hash, (password_hash, user.user)),
                (st.set_password_hash_by_name, (password_hash, user.username, user.user)),
            ],
        )

    # -- devices and their tokens --------------------------------------------

    async def add_device(self, device: Device, token_hash: bytes) -> None:
        cluster = self._live
        st = cluster.statements
        # last_active carries its own value as write timestamp (see the
        # devices table), so it needs a statement of its own; one partition,
        # so one unlogged batch applies both atomically.
        batch = new_batch()
        batch.add(
            st.insert_device, (device.user, device.device, device.name, device.created, token_hash)
        )
        batch.add(
            st.device_active, (device.last_active, device.last_active, device.user, device.device)
        )
        await execute_all(
            cluster.session,
            [(batch, None), (st.insert_token, (token_hash, device.user, device.device))],
        )

    async def device_by_token(self, token_hash: bytes) -> Device | None:
        cluster = self._live
        owner = (await execute(cluster.session, cluster.statements.token, (token_hash,))).one()
        if owner is None:
            return None
        user, device = owner
        row = (await execute(cluster.session, cluster.statements.device, (user, device))).one()
        return _device(user, row)

    async def devices(self, user: int) -> list[Device]:
        cluster = self._live
        rows = await fetch(
            cluster.session, cluster.statements.devices.bind((user,)), page_rows=_PAGE_ROWS
        )
        found = (_device(user, row) for row in rows)
        return [device for device in found if device is not None]

    async def device_count(self, user: int) -> int:
        # count(created), not count(*): a touch of a device never added (or
        # already revoked) leaves a row with only last_active, which
        # `devices` skips too.
        cluster = self._live
        row = (await execute(cluster.session, cluster.statements.device_count, (user,))).one()
        return int(row[0])

    async def revoke_device(self, user: int, device: int) -> bool:
        cluster = self._live
        st = cluster.statements
        row = (await execute(cluster.session, st.device, (user, device))).one()
        if row is None:
            return False
        token_hash = row[4]
        deletes: list[tuple[Statement, tuple[object, ...]]] = [
            (st.delete_push_target, (user, device)),
            (st.delete_device, (user, device)),
        ]
        if token_hash is not None:
            deletes.append((st.delete_token, (token_hash,)))
        await execute_all(cluster.session, deletes)
        return _device(user, row) is not None

    async def touch_devices(self, activity: Sequence[Activity]) -> None:
        # USING TIMESTAMP when: the latest activity wins in any arrival order.
        # Unlogged batches of a few users' two rows: a statement costs the
        # driver ~0.5 ms of CPU, and a reconnect storm brings thousands.
        cluster = self._live
        st = cluster.statements
        batches = []
        for start in range(0, len(activity), _ACTIVITY_PER_BATCH):
            batch = new_batch()
            for a in activity[start : start + _ACTIVITY_PER_BATCH]:
                batch.add(st.device_active, (a.when, a.when, a.user, a.device))
                batch.add(st.user_active, (a.when, a.when, a.user))
            batches.append((batch, None))
        await execute_all(cluster.session, batches)

    async def last_active(self, users: Iterable[int]) -> dict[int, int]:
        cluster = self._live
        wanted = sorted(set(users))
        results = await execute_all(
            cluster.session, [(cluster.statements.user_activity, (user,)) for user in wanted]
        )
        active: dict[int, int] = {}
        for user, result in zip(wanted, results, strict=True):
            row = result.one()
            if row is not None and row[0] is not None:
                active[user] = row[0]
        return active

    # -- push targets ----------------------------------------------------------

    async def set_push_target(self, user: int, device: int, target: PushTarget) -> None:
        cluster = self._live
        # A frozen empty list is a value, not a null: it overwrites old fields;
        # so does an empty key.
        await execute(
            cluster.session,
            cluster.statements.insert_push_target,
            (
                user,
                device,
                target.kind,
                target.endpoint,
                list(target.fields),
                target.registered,
                target.preview,
                target.preview_key or b"",
                target.registered * _US_PER_MS,
            ),
        )

    async def remove_push_target(self, user: int, device: int, registered: int) -> None:
        # A tombstone at the last µs of `registered`'s ms shadows the cells of
        # every registration up to it (a tie goes to the tombstone), and none
        # after: compare-and-delete with no read and no lightweight transaction.
        cluster = self._live
        await execute(
            cluster.session,
            cluster.statements.remove_push_target,
            ((registered + 1) * _US_PER_MS - 1, user, device),
        )

    async def push_targets(self, user: int) -> dict[int, PushTarget]:
        cluster = self._live
        rows = await fetch(
            cluster.session, cluster.statements.push_targets.bind((user,)), page_rows=_PAGE_ROWS
        )
        return {
            device: PushTarget(
                kind,
                endpoint,
                tuple((key, value) for key, value in fields or ()),
                written // _US_PER_MS if registered is None else registered,
                bool(preview),
                preview_key or None,
            )
            for device, kind, endpoint, fields, registered, preview, preview_key, written in rows
        }

    # -- notify levels -------------------------------------------------------------

    async def set_notify(self, user: int, channel: int, notify: Notify | None) -> None:
        cluster = self._live
        st = cluster.statements
        if notify is None:
            await execute(cluster.session, st.delete_notify, (user, channel))
            return
        until = _NEVER if notify.until is None else notify.until
        await execute(cluster.session, st.insert_notify, (user, channel, notify.level.value, until))

    async def notify_levels(self, user: int) -> dict[int, Notify]:
        cluster = self._live
        rows = await fetch(
            cluster.session, cluster.statements.notify_levels.bind((user,)), page_rows=_PAGE_ROWS
        )
        return {
            channel: Notify(NotifyLevel(level), None if until == _NEVER else until)
            for channel, level, until in rows
        }

    # -- channels and membership ---------------------------------------------

    async def open_direct(self, a: int, b: int, channel: int, now: int) -> Channel:
        cluster = self._live
        st = cluster.statements
        low, high = min(a, b), max(a, b)
        pair = (await execute(cluster.session, st.direct_pair, (low, high))).one()
        if pair is None:
            claim = await execute(cluster.session, st.claim_direct_pair, (low, high, channel, now))
            if claim.was_applied:
                created = Channel(channel, ChannelKind.DIRECT, "", now, {low, high})
                await self._write_channel(cluster, created)
                return created
            # The LWT answer carries the winner's row.
            names = claim.column_names
            pair = claim.one()
            pair = (pair[names.index("channel")], pair[names.index("created")])
        found = await self.get_channel(pair[0])
        if found is not None:
            return found
        # The pair's winner has not (or never will have) written the channel:
        # its rows follow from the pair row alone, so write them the same way.
        created = Channel(pair[0], ChannelKind.DIRECT, "", pair[1], {low, high})
        await self._write_channel(cluster, created)
        return created

    async def create_group(self, channel: Channel) -> None:
        await self._write_channel(self._live, channel)

    async def _write_channel(self, cluster: ScyllaCluster, channel: Channel) -> None:
        # Invariant: a channels row exists only once its initial members are
        # stored (open_direct relies on it), so the row goes last.
        await self._write_members(cluster, channel.channel, channel.members)
        await execute(
            cluster.session,
            cluster.statements.insert_channel,
            (channel.channel, channel.kind.value, channel.name, channel.created),
        )

    async def _write_members(
        self, cluster: ScyllaCluster, channel: int, users: Iterable[int]
    ) -> None:
        st = cluster.statements
        users = sorted(set(users))
        writes: list[tuple[Statement, tuple[object, ...] | None]] = []
        for start in range(0, len(users), _MEMBERS_PER_BATCH):
            batch = new_batch()
            for user in users[start : start + _MEMBERS_PER_BATCH]:
                batch.add(st.insert_member, (channel, user))
            writes.append((batch, None))
        writes += [(st.insert_user_channel, (user, channel)) for user in users]
        await execute_all(cluster.session, writes)

    async def get_channel(self, channel: int) -> Channel | None:
        cluster = self._live
        st = cluster.statements
        head = send(cluster.session, st.channel, (channel,))
        members = await fetch(cluster.session, st.members.bind((channel,)), page_rows=_PAGE_ROWS)
        row = (await head.result()).one()
        if row is None:
            return None
        kind, name, created = row
        return Channel(channel, ChannelKind(kind), name, created, {user for (user,) in members})

    async def add_members(self, channel: int, users: Iterable[int]) -> None:
        await self._write_members(self._live, channel, users)

    async def remove_member(self, channel: int, user: int) -> None:
        cluster = self._live
        st = cluster.statements
        await execute_all(
            cluster.session,
            [(st.delete_member, (channel, user)), (st.delete_user_channel, (user, channel))],
        )

    async def user_channels(self, user: int, *, after: int = 0, limit: int | None = None) -> list[int]:
        cluster = self._live
        if limit is not None and limit < 0:
            raise ValueError(f"negative limit {limit}")
        if limit == 0:
            return []
        rows = await fetch(
            cluster.session,
            cluster.statements.user_channels.bind((user, after)),
            page_rows=_PAGE_ROWS,
            want=limit,
        )
        return [channel for (channel,) in rows]

    async def find_direct(self, a: int, b: int) -> int | None:
        cluster = self._live
        pair = (
            await execute(cluster.session, cluster.statements.direct_pair, (min(a, b), max(a, b)))
        ).one()
        return None if pair is None else pair[0]

    # -- messages ----------------------------------------------------------------

    async def take_lease(self, channel: int) -> SeqLease:
        return await messages.take_lease(self._live, channel)

    async def append(
        self, lease: SeqLease, after: int, drafts: Sequence[Draft]
    ) -> list[Message | Dedup]:
        return await messages.append(self._live, self._heads, lease, after, drafts)

    async def last_seqs(self, channels: Sequence[int]) -> dict[int, int]:
        return await messages.last_seqs(self._live, channels)

    async def read_range(
        self, channel: int, after: int, upto: int, limit: int, *, max_bytes: int | None = None
    ) -> list[Message]:
        return await messages.read_range(self._live, channel, after, upto, limit, max_bytes)

    async def read_before(
        self, channel: int, before: int, limit: int, *, max_bytes: int | None = None
    ) -> list[Message]:
        return await messages.read_before(self._live, channel, before, limit, max_bytes)

    # -- read markers --------------------------------------------------------------

    async def advance_read_marker(self, user: int, channel: int, seq: int) -> None:
        # USING TIMESTAMP seq: the highest marker wins in any arrival order.
        cluster = self._live
        await execute(
            cluster.session, cluster.statements.advance_marker, (seq, seq, user, channel)
        )

    async def read_markers(self, user: int) -> dict[int, int]:
        cluster = self._live
        rows = await fetch(
            cluster.session, cluster.statements.markers.bind((user,)), page_rows=_PAGE_ROWS
        )
        return dict(rows)

    async def unread(self, user: int) -> dict[int, Unread]:
        """What ScyllaDB answers cheaply: two partitions and a point read per channel.

        The user's channel list and markers are one partition each; every
        channel's `last` is one row of channel_heads, which the sequence
        lease keeps current anyway, read by key, FANOUT at a time. So a badge
        costs 2 + C single-partition reads for a user in C channels and
        never touches messages. The alternatives cost more where it hurts:
        a counter per user bumped by every message would multiply each
        send's writes by its member count (100 for a full group) with
        counters' non-idempotent retries (a timed-out increment is counted
        twice or lost), and a per-user table of unread channels would be
        written on every message too. Reads are the cheap side here, and the
        user's actor pays them once and then keeps the counts itself from
        the messages and reads it sees.
        """
        channels = await self.user_channels(user)
        markers = await self.read_markers(user)
        lasts = await self.last_seqs(channels)
        return {channel: Unread(lasts[channel], markers.get(channel, 0)) for channel in channels}

    # -- blocks ------------------------------------------------------------------

    async def block(self, user: int, other: int) -> None:
        cluster = self._live
        await execute(cluster.session, cluster.statements.insert_block, (user, other))

    async def unblock(self, user: int, other: int) -> None:
        cluster = self._live
        await execute(cluster.session, cluster.statements.delete_block, (user, other))

    async def blocked(self, user: int) -> list[int]:
        cluster = self._live
        rows = await fetch(
            cluster.session, cluster.statements.blocked.bind((user,)), page_rows=_PAGE_ROWS
        )
        return [blocked for (blocked,) in rows]

    async def blockers(self, user: int, among: Iterable[int]) -> set[int]:
        cluster = self._live
        candidates = sorted(set(among))
        found = await execute_all(
            cluster.session, [(cluster.statements.block, (other, user)) for other in candidates]
        )
        return {other for other, result in zip(candidates, found, strict=True) if result.one() is not None}

    # -- cluster membership ----------------------------------------------------------

    async def register_node(self, node: NodeRecord, ttl: float) -> None:
        cluster = self._live
        await execute(
            cluster.session,
            cluster.statements.insert_node,
            (node.node, node.address, node.started, max(1, math.ceil(ttl))),
        )

    async def live_nodes(self) -> list[NodeRecord]:
        cluster = self._live
        rows = await fetch(cluster.session, cluster.statements.nodes.bind(()), page_rows=_PAGE_ROWS)
        return sorted((NodeRecord(*row) for row in rows), key=lambda record: record.node)

    async def remove_node(self, node: int) -> None:
        cluster = self._live
        await execute(cluster.session, cluster.statements.delete_node, (node,))


def _device(user: int, row: tuple[Any, ...] | None) -> Device | None:
    """A Device from its row; None for no row, or for a row holding only a
    last_active cell (a touch of a device that was never added)."""
    if row is None:
        return None
    device, name, created, last_active, _ = row
    if created is None:
        return None
    return Device(user, device, name, created, created if last_active is None else last_active)
