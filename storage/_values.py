"""Records the Store reads and writes.

They are plain frozen values so that nothing above the Store ever sees a
driver row or a sqlite tuple, and so that both stores can be checked against
each other by equality in the contract suite.

A channel's kind and a notify level are the values a record shares with the
wire, so they are the protocol's `ChannelKind` and `NotifyLevel` (I/O-free
values the whole system imports): stored as their values, they are the very
text clients see, and nothing between the store and a frame converts one
into another.
"""

from __future__ import annotations

from attrs import field, frozen

from protocol import ChannelKind, NotifyLevel


@frozen
class User:
    user: int
    username: str
    password_hash: bytes
    created: int  # ms since the epoch


@frozen
class Device:
    user: int
    device: int
    name: str
    created: int
    last_active: int  # ms; equals `created` until the device is first seen again


@frozen
class Activity:
    """A device seen active at `when` (ms since the epoch)."""

    user: int
    device: int
    when: int


@frozen
class Channel:
    channel: int
    kind: ChannelKind  # the wire's own: stored as its value, the text clients see
    name: str  # "" for direct channels
    created: int
    members: frozenset[int] = field(converter=frozenset)


@frozen
class Message:
    """One stored chat message. `seq` is the channel's 1..N sequence number."""

    channel: int
    seq: int
    sender: int
    device: int
    body: str
    ts: int
    cid: str


@frozen
class Draft:
    """A message to append: everything but its seq, which the Store assigns.

    The Store gives a seq only to a draft that is not a repeat of an earlier
    send of the same (sender, cid), so the caller cannot number it first.
    """

    sender: int
    device: int
    body: str
    ts: int
    cid: str

    def stored_as(self, channel: int, seq: int) -> Message:
        return Message(channel, seq, self.sender, self.device, self.body, self.ts, self.cid)


@frozen
class Dedup:
    """What a (sender, cid) pair was stored as: its answer to a retried send."""

    channel: int
    seq: int
    ts: int


@frozen
class SeqLease:
    """The right to append to one channel, fenced by `epoch`.

    Taking a lease bumps the channel's epoch, so every earlier holder (a node
    that lost the channel in a partition or a long pause) is fenced off: its
    appends fail with `Fenced` instead of storing a second message under a
    seq that the new holder also uses. `last` is the highest seq stored when
    the lease was taken; the holder appends `last + 1`, `last + 2`, ...
    """

    channel: int
    epoch: int
    last: int


@frozen
class PushTarget:
    """Where to notify a device that is not connected.

    `registered` is when the device registered it (ms): the store's
    compare-and-delete (`remove_push_target`) removes a target only up to a
    registration time, so a target re-registered after a provider called the
    old one gone survives its removal.
    """

    kind: str  # provider, e.g. "webpush", "apns", "fcm"
    endpoint: str
    fields: tuple[tuple[str, str], ...] = ()  # provider-specific, sorted by key
    registered: int = 0
    #: The device asked for message previews (sent only where the operator allows them).
    preview: bool = False
    #: The key FCM and APNs previews are encrypted with, made when the target was registered.
    preview_key: bytes | None = field(default=None, repr=False)


@frozen
class Notify:
    """A user's `notify` level for one channel; without a row, the level is `all`."""

    level: NotifyLevel
    until: int | None = None  # ms; the level holds until then, then `all` again

    def level_at(self, now: int) -> NotifyLevel:
        return self.level if self.until is None or now < self.until else NotifyLevel.ALL


@frozen
class Unread:
    """Where a user is in one channel: its newest seq and the user's read marker."""

    last: int
    read: int

    @property
    def count(self) -> int:
        """Messages after the marker (a marker is never past `last`)."""
        return max(0, self.last - self.read)


@frozen
class NodeRecord:
    """A chat node's membership row; it disappears unless refreshed in time."""

    node: int
    address: str  # host:port of its node-to-node listener
    started: int
