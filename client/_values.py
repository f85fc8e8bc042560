"""The typed values a node returns: results of requests and the parts of events.

Frozen so that an app may keep them, hash them and share them between tasks.
Ids are the node's 63-bit integers; times are milliseconds since the epoch.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from attrs import field, frozen


def user_set(users: Iterable[int]) -> frozenset[int]:
    """Members as a set: their order on the wire means nothing."""
    return frozenset(users)


class ChannelKind(enum.Enum):
    DIRECT = "direct"
    GROUP = "group"


@frozen
class Message:
    """One chat message; also the event for a new message (`t: msg`).

    `seq` numbers the channel's messages 1, 2, 3, ... with no gap; `device`
    is the sending device; `cid` the id the sender chose for idempotence.
    """

    channel: int
    seq: int
    sender: int
    device: int
    body: str
    ts: int
    cid: str


@frozen
class ChannelInfo:
    """A channel as `channels` lists it: `last` its newest seq, `read` this user's read marker."""

    channel: int
    kind: ChannelKind
    name: str
    members: frozenset[int] = field(converter=user_set)
    last: int
    read: int


@frozen
class Device:
    """One of the account's devices (`devices`); `last` is its last activity."""

    device: int
    name: str
    last: int


@frozen
class PresenceInfo:
    """Whether a user is online; `last` is their last activity (0 if unknown to the caller)."""

    user: int
    online: bool
    last: int


@frozen
class Credentials:
    """What `login` returns: the new device and its token, the secret to keep for `auth`."""

    user: int
    device: int
    token: str = field(repr=False)


@frozen
class Session:
    """What `auth` returns; `heartbeat` is the ping interval in seconds the node asks for."""

    user: int
    device: int
    heartbeat: float


@frozen
class Sent:
    """A `send` acknowledged: the message is durably stored under `seq`."""

    channel: int
    seq: int
    ts: int


@frozen
class Page:
    """A page of `sync` or `history`: ascending by seq; `more` when the node holds further messages."""

    messages: tuple[Message, ...]
    more: bool
