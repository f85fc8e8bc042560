"""Actor mail: what the actors of one node say to each other (never sent to a client).

Frames for a device travel as encoded bytes (`Outgoing`): a message fanned
out to a hundred members' devices is encoded once by its channel, not once
per device.
"""

from __future__ import annotations

from attrs import field, frozen

from protocol import ByeReason, ChannelKind, SendRequest, SendResult
from runtime import ActorRef
from storage import Notify, PushTarget

from ._failures import RequestFailed


# -- to a device session ------------------------------------------------------


@frozen
class Outgoing:
    """One encoded event for the device's WebSocket."""

    frame: bytes


@frozen
class PostReply:
    """The outcome of a `Post`; the session makes the reply of it."""

    request: SendRequest
    outcome: SendResult | RequestFailed


@frozen
class Bye:
    """Close the connection with `bye` `reason` (`retry` in ms, when given)."""

    reason: ByeReason
    retry_ms: int | None = None


# -- to a channel -----------------------------------------------------------------


@frozen
class Post:
    """A `send` request. The channel answers on `reply_to` with a `PostReply`.

    Told, not asked: the session tells its posts in the order the device sent
    them and the channel's mailbox keeps that order, which is what makes
    "per-channel order per device" hold while many sends are in flight.
    """

    sender: int
    device: int
    request: SendRequest
    reply_to: ActorRef


@frozen
class Access:
    """Ask: may `user` read the channel, and up to which seq? -> ChannelView."""

    user: int


@frozen
class ChannelView:
    channel: int
    kind: ChannelKind
    name: str
    members: frozenset[int]
    last: int


@frozen
class Invite:
    """Ask: add `users` to a group on behalf of member `by`."""

    by: int
    users: frozenset[int]


@frozen
class Leave:
    """Ask: `user` leaves the group."""

    user: int


@frozen
class Typing:
    """Ask: `user` is typing; tell the other members' devices."""

    user: int


@frozen
class MarkRead:
    """Ask: move `user`'s read marker to `seq` (forward only); receipts to the rest."""

    user: int
    device: int
    seq: int


@frozen
class Announce:
    """Tell: the channel was just created; announce it to its members."""


@frozen
class BlocksChanged:
    """Ask: a member of this direct channel blocked or unblocked the other.

    The channel reads again who may send in it before it answers, so a
    `block` answered `ok` is in force for the very next send.
    """


# -- to a user ------------------------------------------------------------------


@frozen
class Attach:
    """Ask: a device session of this user is live; deliver to it from now on.

    -> the device's DeviceGrant (its send bucket, shared by all of the
    device's connections), or RequestFailed (`rate_limited`) when the device
    or the user already has as many connections as the limits allow.
    """

    device: int
    session: ActorRef


@frozen
class Detach:
    device: int
    session: ActorRef


@frozen
class Posted:
    """What a message's fan-out tells the user's push decisions: where, who wrote, whom it names."""

    channel: int
    seq: int
    sender: int
    mentions: frozenset[int]
    body: str = field(repr=False)  # the stored body itself, for a preview (never copied)


@frozen
class ReadMoved:
    """What a receipt's fan-out tells the reader's own actor: its marker in `channel` moved to `seq` on `device`."""

    channel: int
    user: int
    seq: int
    device: int


@frozen
class Deliver:
    """A frame for every live connection of the user but those it excepts.

    A message goes to every connection but the one that sent it, so the
    sender's other devices, and other tabs of the same device, see it live;
    a receipt to every device but the one that read. `cue` is what the
    frame means to the user's push decisions, where it means anything.
    """

    frame: bytes
    except_device: int = 0
    except_session: ActorRef | None = None
    cue: Posted | ReadMoved | None = None


@frozen
class PresenceDeadline:
    """Tell (from the timer service): the offline grace may have run out."""


@frozen
class PresenceQuery:
    """Ask: -> UserPresence of this user, as others have been told it."""


@frozen
class DeviceRevoked:
    """Close every live session of this device with `bye` (revoked)."""

    device: int


@frozen
class CheckRevocations:
    """Tell (from the timer service): look in the store for revoked devices among the live sessions."""


@frozen
class Acked:
    """Tell: the device holds `channel`'s messages up to `seq` (its `ack`)."""

    device: int
    channel: int
    seq: int


@frozen
class TargetSet:
    """Tell: the device's push target is now `target` (None: it has none), as stored."""

    device: int
    target: PushTarget | None


@frozen
class TargetGone:
    """Tell: a provider called the device's target registered at `registered` gone; the store forgot it."""

    device: int
    registered: int


@frozen
class LevelSet:
    """Tell: the user's notify level for `channel` is now `notify` (None: `all`), as stored."""

    channel: int
    notify: Notify | None


@frozen
class PushDeadline:
    """Tell (from the timer service): an ack time-out, or the end of a memory of a push, may have come."""
