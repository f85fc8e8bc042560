"""Channel heads: the fencing timestamps, and head commits shared across channels.

Every append ends on its channel's head (see _scylla_messages, steps 3-4):
it moves `last` and reads the epoch back to learn whether its lease still
holds. The driver costs the node ~0.5 ms of CPU per statement whatever the
statement carries, so the appends of every channel that finish their row
writes while a head commit is in flight share the next one: one unlogged
batch of head writes and one multi-partition epoch read per _GROUP channels,
instead of two statements per append.
"""

from __future__ import annotations

from ._batcher import Batcher
from ._errors import Fenced, StoreError, own_copy
from ._scylla_cluster import ScyllaCluster
from ._trio_cql import new_batch, send
from ._values import SeqLease

SEQ_BITS = 40
MAX_SEQ = (1 << SEQ_BITS) - 1
MAX_EPOCH = (1 << (63 - SEQ_BITS)) - 1

# Channels per head statement: Cassandra warns above 10 partitions in an
# unlogged batch.
_GROUP = 10


def write_time(epoch: int, seq: int) -> int:
    """The write timestamp of every row an append writes: a newer epoch wins
    whatever the arrival order, and within an epoch the higher seq."""
    return (epoch << SEQ_BITS) + seq


def epoch_of(stamp: int) -> int:
    """The epoch that wrote a cell, from its write timestamp."""
    return stamp >> SEQ_BITS


class _Commit:
    __slots__ = ("lease", "last", "done", "head_epoch", "error")

    def __init__(self, lease: SeqLease, last: int) -> None:
        self.lease = lease
        self.last = last
        self.done = False
        self.head_epoch: int | None = None
        self.error: StoreError | None = None


class HeadCommits:
    """The head commits of one store: whoever commits while none is in flight
    leads at once, so a lone append pays no wait; under load they group."""

    def __init__(self, cluster: ScyllaCluster) -> None:
        self._cluster = cluster
        self._batcher: Batcher[_Commit] = Batcher(self._run)

    async def commit(self, lease: SeqLease, last: int) -> None:
        """Move the head of `lease.channel` to `last` (fenced by the lease's
        epoch), then raise Fenced unless the head's epoch is still the lease's.

        Call only after the rows up to `last` are written: the epoch read must
        start after them (step 3 of _scylla_messages).
        """
        commit = _Commit(lease, last)
        await self._batcher.submit(commit)
        if commit.error is not None:
            raise commit.error
        if not commit.done:
            raise StoreError(f"channel {lease.channel}: head commit did not run")
        if commit.head_epoch != lease.epoch:
            raise Fenced(
                f"channel {lease.channel}: lease epoch {lease.epoch}, head epoch {commit.head_epoch}"
            )

    async def _run(self, commits: list[_Commit]) -> int:
        session, st = self._cluster.session, self._cluster.statements
        sent = []
        for start in range(0, len(commits), _GROUP):
            group = commits[start : start + _GROUP]
            # The head write may run alongside the epoch read: a fenced head
            # write always loses to the newer epoch's (step 4).
            moves = new_batch()
            for commit in group:
                lease = commit.lease
                moves.add(
                    st.advance_head,
                    (write_time(lease.epoch, commit.last), commit.last, lease.channel),
                )
            channels = sorted({commit.lease.channel for commit in group})
            try:
                sent.append((group, send(session, moves), send(session, st.epochs, (channels,))))
            except StoreError as exc:
                _fail(group, exc)
        for group, moved, read in sent:
            try:
                await moved.result()
                epochs = dict((await read.result()).current_rows)
            except StoreError as exc:
                _fail(group, exc)
                continue
            for commit in group:
                commit.head_epoch = epochs.get(commit.lease.channel)
                commit.done = True
        return len(commits)


def _fail(group: list[_Commit], error: StoreError) -> None:
    for commit in group:
        commit.error = own_copy(error)
        commit.done = True
