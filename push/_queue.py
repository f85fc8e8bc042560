"""One provider's waiting pushes: collapse by key, a hard bound, retries, decided without I/O.

The driver (`_pusher`) calls `offer` and `withdraw` for the node, and, in
each of its workers, `take` a push to send and `settle` it with the
provider's `Outcome`. Times are the caller's clock (Trio's), in seconds.

Invariants:
- a key is in at most one of `_ready` and `_waiting`; it may also be in
  `_flying` (one request out for it), and then any entry for it in
  `_ready` is a newer notification that goes after that request ends;
- len(_ready) + len(_waiting) <= capacity: an outage never grows memory;
  in flight there are at most as many as the driver has workers;
- `_due` holds every waiting entry's (due, ticket) and a bounded number of
  stale ones (superseded or withdrawn), compacted when they outnumber the
  live ones.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Hashable

from attrs import define, field

from ._api import Notification
from ._outcome import Backoff, Outcome, Verdict, retry_delay


class Offered(enum.Enum):
    QUEUED = "queued"
    COLLAPSED = "collapsed"  # it replaced a pending or retrying one with its key
    DROPPED = "dropped"  # the queue was full


class Settled(enum.Enum):
    SENT = "sent"
    GONE = "gone"
    FAILED = "failed"  # the outcome's failure says why
    RETRYING = "retrying"  # back in the queue, due later
    SUPERSEDED = "superseded"  # a newer one for its key is queued: no retry for this one
    WITHDRAWN = "withdrawn"  # the node withdrew it while it was in flight
    EXHAUSTED = "exhausted"  # out of tries, or a retry would end after its deadline
    OVERFLOW = "overflow"  # it should retry, but the queue is full


@define
class Entry:
    """A notification on its way: how often it was tried, until when it may be."""

    notification: Notification
    deadline: float
    tries: int = 0
    ticket: int = 0  # which scheduling of it a `_due` item refers to


@define
class PushQueue:
    capacity: int
    tries: int  # at most this many requests per notification
    deadline: float  # seconds from its offer a notification may still be retried
    uniform: Callable[[], float]  # random numbers in [0, 1), for the back-off's jitter
    backoff: Backoff = Backoff()
    _ready: OrderedDict[Hashable, Entry] = field(init=False, factory=OrderedDict)
    _waiting: dict[Hashable, Entry] = field(init=False, factory=dict)
    _due: list[tuple[float, int, Hashable]] = field(init=False, factory=list)
    _flying: set[Hashable] = field(init=False, factory=set)
    _withdrawn: set[Hashable] = field(init=False, factory=set)  # a subset of _flying
    _tickets: itertools.count[int] = field(init=False, factory=itertools.count)

    def __len__(self) -> int:
        """Pushes held (pending or waiting to retry), not counting those in flight."""
        return len(self._ready) + len(self._waiting)

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    def offer(self, notification: Notification, now: float) -> Offered:
        key = notification.key
        entry = Entry(notification, deadline=now + self.deadline)
        self._withdrawn.discard(key)
        if key in self._ready:
            # Keeps its place in line: a busy channel is not starved by its own updates.
            self._ready[key] = entry
            return Offered.COLLAPSED
        if self._waiting.pop(key, None) is not None:
            # A newer notification supersedes one waiting to retry, and goes now.
            self._ready[key] = entry
            return Offered.COLLAPSED
        if len(self) >= self.capacity:
            return Offered.DROPPED
        self._ready[key] = entry
        return Offered.QUEUED

    def withdraw(self, key: Hashable) -> bool:
        """Forget the push for `key` (the device caught up); True if one was held or in flight."""
        if self._ready.pop(key, None) is not None or self._waiting.pop(key, None) is not None:
            return True
        if key in self._flying:
            self._withdrawn.add(key)
            return True
        return False

    def next_due(self) -> float | None:
        """When the earliest retry is due, or None if none waits."""
        while self._due and not self._live(self._due[0]):
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    def take(self, now: float) -> Entry | None:
        """The next push to send, now in flight; None if nothing can go yet."""
        while (due := self.next_due()) is not None and due <= now:
            _, _, key = heapq.heappop(self._due)
            self._ready[key] = self._waiting.pop(key)
        # At most one ready entry per key, so this skips at most len(_flying) entries.
        for key in self._ready:
            if key not in self._flying:
                entry = self._ready.pop(key)
                self._flying.add(key)
                entry.tries += 1
                return entry
        return None

    def settle(self, entry: Entry, outcome: Outcome, now: float) -> Settled:
        """Record how the request for `entry` ended; a retry goes back in the queue."""
        key = entry.notification.key
        self._flying.discard(key)
        withdrawn = key in self._withdrawn
        self._withdrawn.discard(key)
        if outcome.verdict is Verdict.SENT:
            return Settled.SENT
        if outcome.verdict is Verdict.GONE:
            return Settled.GONE
        if outcome.verdict is Verdict.FAILED:
            return Settled.FAILED
        if withdrawn:
            return Settled.WITHDRAWN
        if key in self._ready:
            return Settled.SUPERSEDED
        due = now + retry_delay(outcome, entry.tries, self.backoff, self.uniform)
        if entry.tries >= self.tries or due > entry.deadline:
            return Settled.EXHAUSTED
        if len(self) >= self.capacity:
            return Settled.OVERFLOW
        entry.ticket = next(self._tickets)
        self._waiting[key] = entry
        heapq.heappush(self._due, (due, entry.ticket, key))
        if len(self._due) > 2 * len(self._waiting) + 16:
            self._due = [item for item in self._due if self._live(item)]
            heapq.heapify(self._due)
        return Settled.RETRYING

    def _live(self, item: tuple[float, int, Hashable]) -> bool:
        """Whether a `_due` item is its key's current scheduling (not superseded or withdrawn)."""
        entry = self._waiting.get(item[2])
        return entry is not None and entry.ticket == item[1]
