"""Values that appear inside frames: messages, channel and device summaries.

These are the wire's own vocabulary, deliberately separate from the Store's
records: the contract with clients must not move when the schema does.
Each value writes itself as a map (`_wire`) and reads itself back from one
(`_read`, used by clients, which validate what a server sends them too).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from attrs import field, frozen
from attrs.validators import instance_of

from ._fields import Fields


class ChannelKind(enum.Enum):
    DIRECT = "direct"
    GROUP = "group"


class CloseCode(enum.IntEnum):
    """The WebSocket close codes (RFC 6455, 7.4.1) this protocol uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009


#: Keys of a push request that are not provider fields.
PUSH_RESERVED = frozenset({"t", "id", "kind", "endpoint"})


def _sorted_pairs(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(items))


def redacted(_value: str) -> str:
    """repr of a password or token: logs never hold a credential."""
    return "<redacted>"


def sized(value: str) -> str:
    """repr of a message body: logs get its size, not its content."""
    return f"<{len(value)} chars>"


def sorted_ids(ids: frozenset[int]) -> list[int]:
    # Sets go out sorted so that equal values always encode to equal bytes.
    return sorted(ids)


@frozen
class Message:
    """One chat message, as events and `sync`/`history` pages carry it."""

    channel: int
    seq: int
    sender: int  # user id
    device: int  # the sending device
    body: str = field(repr=sized)
    ts: int  # ms since the epoch, set by the channel when it accepted the message
    cid: str  # the sender's idempotency key

    def _wire(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "seq": self.seq,
            "sender": self.sender,
            "device": self.device,
            "body": self.body,
            "ts": self.ts,
            "cid": self.cid,
        }

    @classmethod
    def _read(cls, f: Fields) -> Message:
        return cls(
            channel=f.id("channel"),
            seq=f.integer("seq", 1),
            sender=f.id("sender"),
            device=f.id("device"),
            body=f.text("body"),
            ts=f.seq("ts"),
            cid=f.text("cid"),
        )


@frozen
class ChannelInfo:
    """One entry of the `channels` reply: enough to decide what to `sync`."""

    channel: int
    kind: ChannelKind = field(converter=ChannelKind)
    name: str  # "" for direct channels
    members: frozenset[int] = field(converter=frozenset)
    last: int  # the channel's newest seq, 0 when empty
    read: int  # the caller's read marker

    def _wire(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "kind": self.kind.value,
            "name": self.name,
            "members": sorted_ids(self.members),
            "last": self.last,
            "read": self.read,
        }

    @classmethod
    def _read(cls, f: Fields) -> ChannelInfo:
        return cls(
            channel=f.id("channel"),
            kind=f.enum("kind", ChannelKind),
            name=f.text("name"),
            members=f.ids("members"),
            last=f.seq("last"),
            read=f.seq("read"),
        )


@frozen
class UserPresence:
    """Whether a user is online: a `presence` event, an entry of `presence` replies."""

    user: int
    online: bool
    last: int  # ms since the epoch of the user's last activity; 0 when unknown

    def _wire(self) -> dict[str, Any]:
        return {"user": self.user, "online": self.online, "last": self.last}

    @classmethod
    def _read(cls, f: Fields) -> UserPresence:
        return cls(user=f.id("user"), online=f.boolean("online"), last=f.seq("last"))


@frozen
class DeviceInfo:
    """One entry of the `devices` reply."""

    device: int
    name: str
    last: int  # ms since the epoch of its last activity

    def _wire(self) -> dict[str, Any]:
        return {"device": self.device, "name": self.name, "last": self.last}

    @classmethod
    def _read(cls, f: Fields) -> DeviceInfo:
        return cls(device=f.id("device"), name=f.text("name"), last=f.seq("last"))


@frozen
class PushTarget:
    """Where to notify a device while it is not connected.

    `fields` are the provider's own (for Web Push: `p256dh`, `auth`), kept
    sorted by key so that equal targets are equal values.
    """

    kind: str = field(validator=instance_of(str))
    endpoint: str = field(validator=instance_of(str))
    fields: tuple[tuple[str, str], ...] = field(default=(), converter=_sorted_pairs)

    @fields.validator
    def _not_shadowing(self, _attribute: object, fields: tuple[tuple[str, str], ...]) -> None:
        # Provider fields share the frame's top level with these keys.
        clash = {key for key, _ in fields} & PUSH_RESERVED
        if clash:
            raise ValueError(f"provider fields may not be named {sorted(clash)}")
        if not all(type(key) is str and type(value) is str for key, value in fields):
            raise TypeError("provider fields must be strings named by strings")

    def _wire(self) -> dict[str, Any]:
        return {**dict(self.fields), "kind": self.kind, "endpoint": self.endpoint}
