"""Actor mail: what the actors of one node say to each other (never sent to a client).

Frames for a device travel as encoded bytes (`Outgoing`): a message fanned
out to a hundred members' devices is encoded once by its channel, not once
per device.
"""

from __future__ import annotations

from attrs import frozen

from runtime import ActorRef


# -- to a device session ------------------------------------------------------


@frozen
class Outgoing:
    """One encoded frame for the device's WebSocket."""

    frame: bytes


@frozen
class PostReply:
    """The answer to a `Post`: counted, so a draining session knows when its sends are done."""

    frame: bytes


@frozen
class Hangup:
    """Close the WebSocket with this code now, after the frames queued before."""

    code: int
    reason: str


@frozen
class Disconnect:
    """Send `bye` with this reason, then close the connection."""

    reason: str
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
    request_id: int
    body: str
    cid: str
    reply_to: ActorRef


@frozen
class Access:
    """Ask: may `user` read the channel, and up to which seq? -> ChannelView."""

    user: int


@frozen
class ChannelView:
    channel: int
    kind: str
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


# -- to a user ------------------------------------------------------------------


@frozen
class Attach:
    """Ask: a device session of this user is live; deliver to it from now on."""

    device: int
    session: ActorRef


@frozen
class Detach:
    device: int
    session: ActorRef


@frozen
class Deliver:
    """A frame for every live device of the user but `except_device`."""

    frame: bytes
    except_device: int = 0


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
