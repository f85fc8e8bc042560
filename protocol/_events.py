"""Server-initiated frames: they carry a `t` and never an `id`."""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from attrs import field, frozen

from ._fields import Fields
from ._values import ChannelKind, CloseCode, Message, UserPresence, sorted_ids


class ByeReason(enum.StrEnum):
    """Why the server is about to close; the client's next move depends on it.

    A StrEnum like ErrorCode: a lenient read keeps a reason newer than the
    reader as its plain string.
    """

    DRAINING = "draining"  # the node is shutting down: reconnect (elsewhere) after `retry`
    REVOKED = "revoked"  # the device's token is gone: log in again
    SLOW_CONSUMER = "slow_consumer"  # events piled up unread: reconnect and `sync`
    IDLE = "idle"  # no frame for `idle_heartbeats` heartbeats: reconnect

    @property
    def close_code(self) -> CloseCode:
        return _CLOSE_CODES[self]


class _Event:
    """Base of events: a value that is sent with its `t` added."""

    __slots__ = ()
    T: ClassVar[str]

    def _wire(self) -> dict[str, Any]:
        raise NotImplementedError

    def _frame(self) -> dict[str, Any]:
        return {"t": self.T, **self._wire()}


_CLOSE_CODES = {
    ByeReason.DRAINING: CloseCode.GOING_AWAY,
    ByeReason.REVOKED: CloseCode.NORMAL,
    ByeReason.SLOW_CONSUMER: CloseCode.POLICY_VIOLATION,
    ByeReason.IDLE: CloseCode.POLICY_VIOLATION,
}


@frozen
class MsgEvent(_Event):
    """A new message in one of the user's channels."""

    T: ClassVar[str] = "msg"
    message: Message

    def _wire(self) -> dict[str, Any]:
        return self.message._wire()

    @classmethod
    def _read(cls, f: Fields) -> MsgEvent:
        return cls(Message._read(f))


@frozen
class ChannelEvent(_Event):
    """The user was added to a channel, or its members changed."""

    T: ClassVar[str] = "channel"
    channel: int
    kind: ChannelKind = field(converter=ChannelKind)
    name: str
    members: frozenset[int] = field(converter=frozenset)

    def _wire(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "kind": self.kind.value,
            "name": self.name,
            "members": sorted_ids(self.members),
        }

    @classmethod
    def _read(cls, f: Fields) -> ChannelEvent:
        return cls(
            channel=f.id("channel"),
            kind=f.enum("kind", ChannelKind),
            name=f.text("name"),
            members=f.ids("members"),
        )


@frozen
class ReceiptEvent(_Event):
    """A member's read marker moved to `seq`."""

    T: ClassVar[str] = "receipt"
    channel: int
    user: int
    seq: int

    def _wire(self) -> dict[str, Any]:
        return {"channel": self.channel, "user": self.user, "seq": self.seq}

    @classmethod
    def _read(cls, f: Fields) -> ReceiptEvent:
        return cls(channel=f.id("channel"), user=f.id("user"), seq=f.seq("seq"))


@frozen
class TypingEvent(_Event):
    """A member is typing in a channel."""

    T: ClassVar[str] = "typing"
    channel: int
    user: int

    def _wire(self) -> dict[str, Any]:
        return {"channel": self.channel, "user": self.user}

    @classmethod
    def _read(cls, f: Fields) -> TypingEvent:
        return cls(channel=f.id("channel"), user=f.id("user"))


@frozen
class PresenceEvent(_Event):
    """A user who shares a channel with this one came online or went offline."""

    T: ClassVar[str] = "presence"
    presence: UserPresence

    def _wire(self) -> dict[str, Any]:
        return self.presence._wire()

    @classmethod
    def _read(cls, f: Fields) -> PresenceEvent:
        return cls(UserPresence._read(f))


@frozen
class ByeEvent(_Event):
    """The server is about to close this connection."""

    T: ClassVar[str] = "bye"
    reason: ByeReason | str  # a str only as a lenient read of a newer server's reason
    retry: int | None = None  # ms the client should wait before reconnecting

    def _wire(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"reason": str(self.reason)}
        if self.retry is not None:
            fields["retry"] = self.retry
        return fields

    @classmethod
    def _read(cls, f: Fields) -> ByeEvent:
        retry = f.seq("retry") if f.has("retry") else None
        return cls(reason=f.known("reason", ByeReason), retry=retry)


Event = MsgEvent | ChannelEvent | ReceiptEvent | TypingEvent | PresenceEvent | ByeEvent

EVENT_TYPES: dict[str, type[Event]] = {
    cls.T: cls
    for cls in (MsgEvent, ChannelEvent, ReceiptEvent, TypingEvent, PresenceEvent, ByeEvent)
}
