"""Channel sequences on CQL: fenced leases, appends, range reads, dedup.

Fencing without a transaction per append
----------------------------------------
`channel_heads` holds per channel an `epoch` (changed only by LWT) and `last`.
A lease is an epoch. Every write an append makes (body row, message row, dedup
row, head `last`) carries the write timestamp

    (epoch << 40) + seq

so for any two writes to the same cell, the newer epoch wins whatever the
order they arrive in, and within one epoch the higher seq wins (head `last`
only moves forward). After writing, append reads the head's epoch at quorum
and raises Fenced unless it is still the lease's.

Why no zombie (a holder that lost its lease in a pause or a partition) can
get a message acknowledged under a seq the new holder also uses:

1. take_lease commits the new epoch by Paxos at quorum *before* it reads
   head `last` and the message buckets at quorum.
2. A zombie write that completed before that read is seen (quorum
   intersection) and adopted: `last` covers it, the new holder appends after
   it, and the message stands (stored but never acknowledged, which the
   Store contract allows: it counts as stored).
3. A zombie write that completed after that read started is followed by the
   zombie's epoch read, which starts after the epoch commit completed, so it
   sees the new epoch (quorum intersection) and the zombie raises Fenced: the
   message is never acknowledged. Its rows carry an older epoch in their
   timestamp, so the new holder's writes to the same seq replace them.
4. Until they are replaced, such rows lie above head `last`: take_lease
   writes `last` with its new epoch's timestamp, which no zombie head write
   can beat. Readers clamp to `last`, so nobody sees them, and append's
   dedup check ignores entries above `last`.
5. A later take_lease must not adopt them either (that would expose a
   fenced message, maybe behind a gap). It adopts a row above `last` only if
   the row's epoch (its write timestamp >> 40) is at least the epoch that
   wrote `last`: a holder that finished take_lease wrote `last` after its
   scan, so an older epoch's row above it landed after that scan, i.e. it
   was fenced. Rows of the holder that wrote `last` (say it crashed between
   a message write and its head write) are adopted as stored.
6. An append writes its message rows in batches, one after another in seq
   order, and each batch is one partition's mutation: so a failed append
   leaves a prefix of its messages, never a gap below an adopted row. Dedup
   entries are partitions of their own, written alongside. A message row
   may land without its entry, so take_lease writes the entries of the rows
   it adopts: a retry of such a send then finds the seq it was stored as
   instead of being stored twice. An entry without its row is ignored (its
   seq is above `last`, or holds another send).

Limits: seq < 2**40 and epoch < 2**23, so the timestamp fits in 63 bits.
Both are checked. Appends must write at quorum (ScyllaCluster enforces it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import trio
from cassandra.cluster import ResultSet
from cassandra.query import UNSET_VALUE, BatchStatement

from ._budget import prefix_within
from ._cql_schema import INLINE_BODY_MAX, bucket
from ._errors import Conflict, StoreError
from ._numbering import SendKey, number_drafts, send_keys
from ._scylla_cluster import ScyllaCluster
from ._scylla_heads import MAX_EPOCH, MAX_SEQ, HeadCommits, epoch_of, write_time
from ._trio_cql import execute, execute_all, fetch, new_batch, send
from ._values import Dedup, Draft, Message, SeqLease

# A messages row as read: (seq, sender, device, ts, cid, big, body, size).
_Row = tuple[Any, ...]

# What a big row written before its `size` column existed counts against a
# read's byte budget: the largest body there is (100,000 four-byte characters).
_UNSIZED_BODY = 400_000

# take_lease retries a lost epoch race this often, backing off from 10 ms.
_LEASE_ATTEMPTS = 8
_LEASE_BACKOFF = 0.010

# Rows go to the cluster in batches of at most this many bytes (bodies plus
# _ROW_BYTES per row) and partitions: under Cassandra's warnings (5 KiB, 10).
_BATCH_BYTES = 4096
_ROW_BYTES = 100
_BATCH_PARTITIONS = 10

# Rows per page of a range read (at most ~2.2 KB each, see _cql_schema).
_PAGE_ROWS = 500

# cids per dedup read: one statement reads that many partitions.
_IN_KEYS = 64


async def take_lease(cluster: ScyllaCluster, channel: int) -> SeqLease:
    session, st = cluster.session, cluster.statements
    head = (await execute(session, st.head, (channel,))).one()
    seen = None if head is None else head[0]
    for attempt in range(_LEASE_ATTEMPTS):
        if seen is None:
            result = await execute(session, st.claim_new_head, (channel,))
            epoch = 1
        else:
            if seen >= MAX_EPOCH:
                raise StoreError(f"channel {channel}: epoch {seen} is at its limit")
            epoch = seen + 1
            result = await execute(session, st.bump_epoch, (epoch, channel, seen))
        if result.was_applied:
            break
        # The LWT answer carries the epoch that beat us: race again from it.
        seen = result.one()[result.column_names.index("epoch")]
        await trio.sleep(random.uniform(0, _LEASE_BACKOFF * 2**attempt))
    else:
        raise Conflict(f"channel {channel}: lost {_LEASE_ATTEMPTS} lease races in a row")
    # The epoch is committed; only now read what is stored (step 1 above).
    head = (await execute(session, st.head, (channel,))).one()
    if head is None or head[1] is None:
        last, last_epoch = 0, 1  # epoch 1 is the first any lease has
    else:
        last, last_epoch = head[1], epoch_of(head[2])
    adopted = await _adoptable(cluster, channel, last, last_epoch)
    if adopted:
        # Their dedup entries may have been lost with the holder (step 6).
        await execute_all(
            session,
            [
                (st.insert_dedup, (sender, cid, channel, seq, ts, stamp))
                for seq, stamp, sender, cid, ts in adopted
            ],
        )
        last = adopted[0][0]
    await execute(session, st.advance_head, (write_time(epoch, last), last, channel))
    return SeqLease(channel, epoch, last)


async def _adoptable(
    cluster: ScyllaCluster, channel: int, last: int, last_epoch: int
) -> list[_Row]:
    """The rows stored above `last` up to the highest one written by a holder
    not fenced before `last` was written (step 5 above), highest first, as
    (seq, write time, sender, cid, ts).

    Scans from `last`'s bucket and always one bucket past it (in-flight
    appends may straddle a boundary), then on while buckets yield rows.
    """
    session, st = cluster.session, cluster.statements
    first = bucket(last)
    current = first
    adopted: list[_Row] = []
    while True:
        rows = await fetch(
            session, st.tail.bind((channel, current, last)), page_rows=_PAGE_ROWS
        )
        for at, row in enumerate(rows):  # highest seq first
            stamp = row[1]
            if stamp is not None and epoch_of(stamp) >= last_epoch:
                # Everything below the highest adoptable row counts as stored.
                adopted = [*rows[at:], *adopted]
                break
        else:
            if current > first:
                return adopted
        current += 1


async def append(
    cluster: ScyllaCluster,
    heads: HeadCommits,
    lease: SeqLease,
    after: int,
    drafts: Sequence[Draft],
) -> list[Message | Dedup]:
    """Three round trips for a batch of short messages: the dedup reads (one
    per sender), the row writes, then the head commit, shared with the other
    channels committing at the same time (plus one round trip before the
    writes if a body is big, and one per further messages batch)."""
    earlier = await _earlier_sends(cluster, send_keys(drafts))
    results = number_drafts(lease.channel, after, drafts, earlier)
    stored = [result for result in results if isinstance(result, Message)]
    if stored:
        await _write(cluster, lease, stored)
        # Only now: the epoch read must start after the writes completed
        # (step 3 above).
        await heads.commit(lease, stored[-1].seq)
    return results


async def _earlier_sends(cluster: ScyllaCluster, keys: set[SendKey]) -> dict[SendKey, Dedup]:
    """The earlier sends among `keys` that still stand: a dedup read per
    sender (per _IN_KEYS cids), then a check of each entry found."""
    session, st = cluster.session, cluster.statements
    by_sender: dict[int, list[str]] = {}
    for sender, cid in sorted(keys):
        by_sender.setdefault(sender, []).append(cid)
    reads = [
        (sender, send(session, st.dedups, (sender, cids[start : start + _IN_KEYS])))
        for sender, cids in by_sender.items()
        for start in range(0, len(cids), _IN_KEYS)
    ]
    entries: list[tuple[SendKey, Dedup]] = []
    for sender, read in reads:
        for cid, channel, seq, ts in (await read.result()).current_rows:
            entries.append(((sender, cid), Dedup(channel, seq, ts)))
    if not entries:
        return {}
    return await _standing(cluster, entries)


async def _standing(
    cluster: ScyllaCluster, entries: list[tuple[SendKey, Dedup]]
) -> dict[SendKey, Dedup]:
    """The dedup entries that count: their message stands as this send and is
    acknowledged-visible. A fenced zombie's rows may sit above `last` until the
    new holder overwrites that seq with another message (step 4 above)."""
    session, st = cluster.session, cluster.statements
    channels = sorted({dedup.channel for _, dedup in entries})
    found = await execute_all(
        session,
        [(st.origin, (d.channel, bucket(d.seq), d.seq)) for _, d in entries]
        + [(st.head, (channel,)) for channel in channels],
    )
    origins, heads = found[: len(entries)], found[len(entries) :]
    last = {channel: _last(head) for channel, head in zip(channels, heads, strict=True)}
    return {
        key: dedup
        for (key, dedup), origin in zip(entries, origins, strict=True)
        if dedup.seq <= last[dedup.channel] and origin.one() == key
    }


async def _write(cluster: ScyllaCluster, lease: SeqLease, stored: list[Message]) -> None:
    """Write the messages' rows and dedup entries, fenced by their timestamps."""
    for message in stored:
        if not 0 < message.seq <= MAX_SEQ:
            raise ValueError(f"seq {message.seq} outside 1..{MAX_SEQ}")
    session, st = cluster.session, cluster.statements
    big = {m.seq for m in stored if len(m.body.encode()) > INLINE_BODY_MAX}
    if big:
        # First, so a message row flagged big always finds its body.
        await execute_all(
            session,
            [
                (st.insert_body, (m.channel, m.seq, m.body, write_time(lease.epoch, m.seq)))
                for m in stored
                if m.seq in big
            ],
        )
    in_order, any_order = _row_batches(st, lease.epoch, stored, big)
    entries = [send(session, batch) for batch in any_order]
    for batch in in_order:
        await execute(session, batch)  # in order: no gap (step 6 above)
    for entry in entries:
        await entry.result()


def _row_batches(
    st: Any, epoch: int, stored: list[Message], big: set[int]
) -> tuple[list[BatchStatement], list[BatchStatement]]:
    """The rows as unlogged batches, a statement per batch rather than per
    row since each costs the driver ~0.5 ms of CPU here: (message batches, to
    write one after another; dedup batches, to write alongside them).

    A message batch holds rows of one messages partition, at most
    _BATCH_BYTES, so it lands as one mutation (step 6 above). Each dedup
    entry is a partition of its own: at most _BATCH_PARTITIONS to a batch.
    When the messages fit one batch with room to spare, their entries ride
    in it: one statement for the common short append. All of it is under
    Cassandra's warnings for multi-partition and large batches.
    """
    in_order: list[BatchStatement] = []
    size, current_bucket = _BATCH_BYTES, None
    for m in stored:
        is_big = m.seq in big
        row = _ROW_BYTES + (0 if is_big else len(m.body.encode()))
        if size + row > _BATCH_BYTES or bucket(m.seq) != current_bucket:
            in_order.append(new_batch())
            size, current_bucket = 0, bucket(m.seq)
        size += row
        in_order[-1].add(
            st.insert_message,
            (
                m.channel,
                bucket(m.seq),
                m.seq,
                m.sender,
                m.device,
                m.ts,
                m.cid,
                is_big,
                UNSET_VALUE if is_big else m.body,
                len(m.body.encode()) if is_big else UNSET_VALUE,
                write_time(epoch, m.seq),
            ),
        )
    entries = [
        (m.sender, m.cid, m.channel, m.seq, m.ts, write_time(epoch, m.seq)) for m in stored
    ]
    if (
        len(in_order) == 1
        and len(entries) < _BATCH_PARTITIONS
        and size + len(entries) * _ROW_BYTES <= _BATCH_BYTES
    ):
        for entry in entries:
            in_order[0].add(st.insert_dedup, entry)
        return in_order, []
    any_order = []
    for start in range(0, len(entries), _BATCH_PARTITIONS):
        batch = new_batch()
        for entry in entries[start : start + _BATCH_PARTITIONS]:
            batch.add(st.insert_dedup, entry)
        any_order.append(batch)
    return in_order, any_order


async def last_seqs(cluster: ScyllaCluster, channels: Sequence[int]) -> dict[int, int]:
    wanted = sorted(set(channels))
    heads = await execute_all(
        cluster.session, [(cluster.statements.head, (channel,)) for channel in wanted]
    )
    return {channel: _last(head) for channel, head in zip(wanted, heads, strict=True)}


def _last(head: ResultSet) -> int:
    """Head `last` from a channel_heads read: 0 for a channel never appended to."""
    row = head.one()
    return 0 if row is None or row[1] is None else row[1]


def _body_bytes(row: _Row) -> int:
    """A row's body size, known before any big body is fetched."""
    _, _, _, _, _, big, body, size = row
    if big:
        return _UNSIZED_BODY if size is None else size
    return len((body or "").encode())


class _Budget:
    """The rows a read with `max_bytes` keeps, bucket after bucket."""

    def __init__(self, max_bytes: int | None) -> None:
        self._max_bytes = max_bytes
        self._sizes: list[int] = []  # of the rows added, in order

    @property
    def spent(self) -> bool:
        """The rows so far hold more than fits: later buckets add nothing."""
        return self._max_bytes is not None and sum(self._sizes) > self._max_bytes

    def add(self, rows: list[_Row]) -> list[_Row]:
        self._sizes += map(_body_bytes, rows)
        return rows

    def kept(self, rows: list[_Row]) -> list[_Row]:
        """Of `rows` (all the rows added), those that fit."""
        if self._max_bytes is None:
            return rows
        return rows[: prefix_within(self._sizes, self._max_bytes)]


async def read_range(
    cluster: ScyllaCluster, channel: int, after: int, upto: int, limit: int, max_bytes: int | None
) -> list[Message]:
    if limit < 0:
        raise ValueError(f"negative limit {limit}")
    if limit == 0 or upto <= after:
        return []
    session, st = cluster.session, cluster.statements
    current = bucket(after + 1)
    budget = _Budget(max_bytes)

    async def page(hi: int, want: int) -> list[_Row]:
        return await fetch(
            session,
            st.range_up.bind((channel, current, after, hi, want)),
            page_rows=_PAGE_ROWS,
            want=want,
        )

    # The head read (the clamp) travels with the first bucket's read.
    head = send(session, st.head, (channel,))
    rows = await page(upto, limit)
    upto = min(upto, _last(await head.result()))
    rows = budget.add([row for row in rows if row[0] <= upto])
    while len(rows) < limit and not budget.spent and current < bucket(upto):
        current += 1
        rows += budget.add(await page(upto, limit - len(rows)))
    return await _messages(cluster, channel, budget.kept(rows))


async def read_before(
    cluster: ScyllaCluster, channel: int, before: int, limit: int, max_bytes: int | None
) -> list[Message]:
    if limit < 0:
        raise ValueError(f"negative limit {limit}")
    if limit == 0:
        return []
    session, st = cluster.session, cluster.statements
    top = min(before - 1, _last(await execute(session, st.head, (channel,))))
    rows: list[_Row] = []
    current = bucket(top)
    budget = _Budget(max_bytes)
    while top > 0 and len(rows) < limit and not budget.spent and current >= 0:
        want = limit - len(rows)
        page = await fetch(
            session,
            st.range_down.bind((channel, current, top + 1, want)),
            page_rows=_PAGE_ROWS,
            want=want,
        )
        rows += budget.add(page)
        current -= 1
    rows = budget.kept(rows)  # newest first
    rows.reverse()
    return await _messages(cluster, channel, rows)


async def _messages(
    cluster: ScyllaCluster, channel: int, rows: list[_Row]
) -> list[Message]:
    """Messages from their rows, with the big bodies fetched (all at once:
    the rows were chosen to fit the read's budget)."""
    session, st = cluster.session, cluster.statements
    big = [row[0] for row in rows if row[5]]
    found = await execute_all(session, [(st.body, (channel, seq)) for seq in big])
    bodies: dict[int, str] = {}
    for seq, result in zip(big, found, strict=True):
        row = result.one()
        if row is None:
            # Never expected: the body is written before its message row.
            raise StoreError(f"channel {channel} seq {seq}: body missing")
        bodies[seq] = row[0]
    return [
        Message(
            channel, seq, sender, device, bodies[seq] if is_big else body, ts, cid
        )
        for seq, sender, device, ts, cid, is_big, body, _ in rows
    ]
