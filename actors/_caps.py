"""Caps on forced membership: nobody is put in channels faster than a person could read them.

One account once made 800 groups of 100 members, each holding the same
victim, in 3.7 s: the victim's channel list outgrew a WebSocket message and
their client could no longer start. Two caps stop that kind of flood:

- groups one user creates: `groups_per_hour`;
- new channels others put one user in (a group, an invite, a first
  `direct`): `added_per_hour`, whoever the others are, so a thousand
  accounts get no further than one.

Each is a token bucket per user holding a full hour's worth, refilled over
the hour: a burst of that many at once, and at most twice that in any hour.
A request over a cap is refused whole (nothing of it is counted) with
`rate_limited` and the `retry` in ms after which it would pass.

The keys are user ids that clients choose, so memory is bounded twice: a
bucket is forgotten once it has refilled (it is then the same as a new one),
and beyond `capacity` buckets the least recently used is forgotten early,
which at worst gives that user a fresh hour. The decisions need no I/O and
take the time as an argument, so they are tested without an event loop.

Node-local for now: a user creating groups through two nodes gets each
node's allowance, and a victim added through many nodes each node's. In the
cluster the buckets move to each user's owner (the node that owns the user's
slot and runs their UserActor): a request asks the creator's owner and each
added user's owner (one ask per owner node, as fan-out batches) to admit it,
and the owner keeps the bucket with the rest of the user's state, so every
node counts against the same one; an owner that dies takes its buckets with
it, which is the same as an early forget.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection

from attrs import define, field

from protocol import TokenBucket

HOUR = 3600.0


@define
class _Held:
    bucket: TokenBucket
    taken: float  # when a token was last taken


@define
class BucketTable:
    """A token bucket per key, each starting full; bounded as the module says."""

    rate: float  # tokens per second
    burst: int
    capacity: int
    # Least recently taken first.
    _held: OrderedDict[int, _Held] = field(init=False, factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._held)

    def retry_ms(self, key: int, now: float) -> int:
        """Milliseconds until `key` may take a token; 0 if it may now. Stores nothing."""
        held = self._held.get(key)
        return 0 if held is None else held.bucket.retry_after_ms(now)

    def take(self, key: int, now: float) -> None:
        """Spend one of `key`'s tokens (its retry_ms must be 0)."""
        self._forget_refilled(now)
        held = self._held.pop(key, None)
        if held is None:
            held = _Held(TokenBucket(self.rate, self.burst), now)
        taken = held.bucket.take(now)
        assert taken, "take() without a token: ask retry_ms first"
        held.taken = now
        self._held[key] = held
        while len(self._held) > self.capacity:
            self._held.popitem(last=False)

    def _forget_refilled(self, now: float) -> None:
        refill = self.burst / self.rate
        while self._held:
            oldest = next(iter(self._held.values()))
            if now - oldest.taken < refill:
                return
            self._held.popitem(last=False)


def _per_hour(count: int, capacity: int) -> BucketTable:
    return BucketTable(rate=count / HOUR, burst=count, capacity=capacity)


@define
class MembershipCaps:
    groups_per_hour: int = 20
    added_per_hour: int = 50
    #: Users remembered per cap at most (a bucket is ~200 bytes).
    capacity: int = 65_536
    _created: BucketTable = field(init=False)
    _added: BucketTable = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._created = _per_hour(self.groups_per_hour, self.capacity)
        self._added = _per_hour(self.added_per_hour, self.capacity)

    def admit(self, now: float, *, creator: int | None, added: Collection[int]) -> int:
        """Count one new channel that `creator` (None: not a group creation)
        makes and that puts `added` in it: 0 if admitted and counted, else the
        ms until it would be, with nothing counted."""
        waits = [self._added.retry_ms(user, now) for user in added]
        if creator is not None:
            waits.append(self._created.retry_ms(creator, now))
        wait = max(waits, default=0)
        if wait:
            return wait
        if creator is not None:
            self._created.take(creator, now)
        for user in added:
            self._added.take(user, now)
        return 0
