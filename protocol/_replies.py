"""Replies: `ok` with a typed result, or `err` with a code.

Every request gets exactly one of these with its `id`. A result type knows
its own fields, so handlers cannot misspell a key that clients rely on; it
reads them back too (`_read`), for clients, which check what a server sends
as strictly as the server checks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from attrs import field, frozen

from ._codec import pack_frame
from ._errors import DEFAULT_MESSAGES, ErrorCode
from ._fields import Fields
from ._values import ChannelInfo, DeviceInfo, Message, UserPresence, redacted, sorted_ids

# What a `sync`/`history`/`channels` reply adds around its entries: the keys
# `t`, `id`, `messages` or `channels`, `more`, their values and the array
# header, generously rounded.
_PAGE_OVERHEAD = 64


def _fitting(sizes: Iterable[int], max_bytes: int) -> int:
    """How many entries of these encoded sizes, in order, fit a reply of
    `max_bytes`: at least one, so paging always progresses. Lazy: sizes after
    the cut are never asked for."""
    budget = max_bytes - _PAGE_OVERHEAD
    count = 0
    for size in sizes:
        budget -= size
        if count and budget < 0:
            break
        count += 1
    return count


@frozen
class UserResult:
    """`register` and `lookup`: the user's id."""

    user: int

    def _wire(self) -> dict[str, Any]:
        return {"user": self.user}

    @classmethod
    def _read(cls, f: Fields) -> UserResult:
        return cls(user=f.id("user"))


@frozen
class LoginResult:
    """`login`: the new device and its token, the device's only credential."""

    user: int
    device: int
    token: str = field(repr=redacted)

    def _wire(self) -> dict[str, Any]:
        return {"user": self.user, "device": self.device, "token": self.token}

    @classmethod
    def _read(cls, f: Fields) -> LoginResult:
        return cls(user=f.id("user"), device=f.id("device"), token=f.text("token", 1))


@frozen
class AuthResult:
    """`auth`: who this connection now acts as, and how often to ping."""

    user: int
    device: int
    heartbeat: int  # seconds

    def _wire(self) -> dict[str, Any]:
        return {"user": self.user, "device": self.device, "heartbeat": self.heartbeat}

    @classmethod
    def _read(cls, f: Fields) -> AuthResult:
        return cls(user=f.id("user"), device=f.id("device"), heartbeat=f.integer("heartbeat", 1))


@frozen
class ChannelResult:
    """`direct` and `group`: the channel."""

    channel: int

    def _wire(self) -> dict[str, Any]:
        return {"channel": self.channel}

    @classmethod
    def _read(cls, f: Fields) -> ChannelResult:
        return cls(channel=f.id("channel"))


@frozen
class ChannelsResult:
    """`channels`: one page of the user's channels by id; `more` if the page was cut (v1.1).

    A v1 server never cut the list, so a reply without `more` reads as complete.
    """

    channels: tuple[ChannelInfo, ...] = field(converter=tuple)
    more: bool = False

    @classmethod
    def fit(cls, channels: Sequence[ChannelInfo], *, more: bool, max_bytes: int) -> ChannelsResult:
        """The first of `channels` whose reply stays within `max_bytes`.

        A user in 800 groups of 100 members has a 1.1 MiB list: cut by size as
        well as count, every page fits a message and the client asks on from
        the last channel it got.
        """
        count = _fitting((len(pack_frame(info._wire())) for info in channels), max_bytes)
        return cls(channels=channels[:count], more=more or count < len(channels))

    def _wire(self) -> dict[str, Any]:
        return {"channels": [info._wire() for info in self.channels], "more": self.more}

    @classmethod
    def _read(cls, f: Fields) -> ChannelsResult:
        more = f.boolean("more") if f.has("more") else False
        return cls(channels=tuple(ChannelInfo._read(item) for item in f.maps("channels")), more=more)


@frozen
class UsersResult:
    """`blocked`: the ids this user blocks (v1.1)."""

    users: frozenset[int] = field(converter=frozenset)

    def _wire(self) -> dict[str, Any]:
        return {"users": sorted_ids(self.users)}

    @classmethod
    def _read(cls, f: Fields) -> UsersResult:
        return cls(users=f.ids("users"))


@frozen
class PushResult:
    """`push` (v1.1): `key`, when the node made one for this target's previews.

    Only FCM and APNs targets that asked for previews, on a node that allows
    them, get a key: 16 random bytes (AES-128), base64url without padding, that the
    previews pushed to this device are encrypted with. It is in this reply
    only, never again; a device that lost it registers again for a new one.
    A bare `ok` (a v1 server, a removal) reads as no key.
    """

    key: str | None = field(default=None, repr=lambda key: "<redacted>" if key else "None")

    def _wire(self) -> dict[str, Any]:
        return {} if self.key is None else {"key": self.key}

    @classmethod
    def _read(cls, f: Fields) -> PushResult:
        return cls(key=f.text("key", 1) if f.has("key") else None)


@frozen
class SendResult:
    """`send`: where the message was stored (the first time, for a repeated cid)."""

    channel: int
    seq: int
    ts: int

    def _wire(self) -> dict[str, Any]:
        return {"channel": self.channel, "seq": self.seq, "ts": self.ts}

    @classmethod
    def _read(cls, f: Fields) -> SendResult:
        return cls(channel=f.id("channel"), seq=f.integer("seq", 1), ts=f.seq("ts"))


@frozen
class PageResult:
    """`sync` and `history`: messages in ascending seq; `more` if the page was cut."""

    messages: tuple[Message, ...] = field(converter=tuple)
    more: bool

    @classmethod
    def fit(
        cls, messages: Sequence[Message], *, more: bool, max_bytes: int, keep_newest: bool
    ) -> PageResult:
        """The page of `messages` whose reply stays within `max_bytes`.

        A page of 500 messages of 100,000 characters would be a 200 MB frame,
        which no client accepts, so pages are cut by size as well as count.
        `sync` keeps the oldest (the client continues after the last one),
        `history` the newest (it continues before the first). At least one
        message is always kept, so paging always progresses; Limits ensures
        one message at the body limit fits a frame.
        """
        ordered = list(reversed(messages) if keep_newest else messages)
        count = _fitting((len(pack_frame(message._wire())) for message in ordered), max_bytes)
        kept = ordered[:count]
        if keep_newest:
            kept.reverse()
        return cls(messages=tuple(kept), more=more or count < len(messages))

    def _wire(self) -> dict[str, Any]:
        return {"messages": [message._wire() for message in self.messages], "more": self.more}

    @classmethod
    def _read(cls, f: Fields) -> PageResult:
        return cls(
            messages=tuple(Message._read(item) for item in f.maps("messages")),
            more=f.boolean("more"),
        )


@frozen
class PresenceResult:
    """`presence`: one entry per asked user."""

    presence: tuple[UserPresence, ...] = field(converter=tuple)

    def _wire(self) -> dict[str, Any]:
        return {"presence": [entry._wire() for entry in self.presence]}

    @classmethod
    def _read(cls, f: Fields) -> PresenceResult:
        return cls(presence=tuple(UserPresence._read(item) for item in f.maps("presence")))


@frozen
class DevicesResult:
    """`devices`: the user's devices that are not revoked."""

    devices: tuple[DeviceInfo, ...] = field(converter=tuple)

    def _wire(self) -> dict[str, Any]:
        return {"devices": [info._wire() for info in self.devices]}

    @classmethod
    def _read(cls, f: Fields) -> DevicesResult:
        return cls(devices=tuple(DeviceInfo._read(item) for item in f.maps("devices")))


Result = (
    UserResult
    | LoginResult
    | AuthResult
    | ChannelResult
    | ChannelsResult
    | SendResult
    | PageResult
    | PresenceResult
    | PushResult
    | DevicesResult
    | UsersResult
)


@frozen
class Ok:
    """Success. `result` is None for requests whose `ok` carries no fields."""

    id: int
    result: Result | None = None

    def _frame(self) -> dict[str, Any]:
        fields = {} if self.result is None else self.result._wire()
        return {"t": "ok", "id": self.id, **fields}


@frozen
class Err:
    """Failure. `id` is None when the request had no usable id.

    `code` is a str only as a lenient read of a code newer than the reader,
    which a client still reports (as an error it has no name for).
    """

    id: int | None
    code: ErrorCode | str
    msg: str = field()
    retry: int | None = None  # ms; set with RATE_LIMITED, allowed with any code

    @msg.default
    def _default_msg(self) -> str:
        return DEFAULT_MESSAGES[ErrorCode(self.code)]

    def _frame(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "t": "err",
            "id": self.id,
            "code": str(self.code),
            "msg": self.msg,
        }
        if self.retry is not None:
            fields["retry"] = self.retry
        return fields


Reply = Ok | Err
