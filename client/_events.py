"""Events: what a node sends unasked, and what `ChatClient` adds about its connection.

`Message` (from `_values`) is the event for a new message; the rest are here.
"""

from __future__ import annotations

from attrs import field, frozen

from ._values import ChannelInfo, ChannelKind, Message, user_set


@frozen
class ChannelEvent:
    """The user was added to a channel, or its members changed."""

    channel: int
    kind: ChannelKind
    name: str
    members: frozenset[int] = field(converter=user_set)


@frozen
class ReceiptEvent:
    """A member's read marker in `channel` moved to `seq` (also sent for the user's own other devices)."""

    channel: int
    user: int
    seq: int


@frozen
class TypingEvent:
    """A member is typing in `channel`."""

    channel: int
    user: int


@frozen
class PresenceEvent:
    """A user sharing a channel with this user came online or went offline."""

    user: int
    online: bool
    last: int


@frozen
class ByeEvent:
    """The node is about to close the connection; `retry` is its hint in milliseconds."""

    reason: str
    retry: int | None = None


@frozen
class Disconnected:
    """`ChatClient` lost its connection and will try again in `delay` seconds.

    Requests that are safe to repeat wait for the next connection; the others
    raise `ConnectionLost` meanwhile.
    """

    reason: str
    delay: float


@frozen
class Reconnected:
    """`ChatClient` is connected again; messages missed meanwhile follow in the event stream.

    `channels` is the fresh channel list, so that an app can redraw from it.
    """

    channels: tuple[ChannelInfo, ...]


ServerEvent = Message | ChannelEvent | ReceiptEvent | TypingEvent | PresenceEvent | ByeEvent
"""Everything a node may send without an `id`."""

ClientEvent = ServerEvent | Disconnected | Reconnected
"""Everything `ChatClient.events()` yields."""
