"""Events: what a node sends unasked, and what `ChatClient` adds about its connection.

The node's events are the protocol's own values, with one change of shape:
a new message reaches the app as its `Message`, not wrapped in the `msg`
event (`MsgEvent`), so that an app handles a message the same whether it came
live or was fetched by a `sync` after a gap.
"""

from __future__ import annotations

from attrs import frozen

from protocol import ByeEvent, ChannelEvent, ChannelInfo, Message, PresenceEvent, ReceiptEvent, TypingEvent


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
"""Everything a node may send without an `id`, as a `Connection` hands it on."""

ClientEvent = ServerEvent | Disconnected | Reconnected
"""Everything `ChatClient.events()` yields."""
