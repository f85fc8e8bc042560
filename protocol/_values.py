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
from attrs.validators import instance_of, optional

from ._fields import Fields, bad


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


class NotifyLevel(enum.StrEnum):
    """Which messages of a channel may push to a user's devices (v1.1 `notify`).

    A StrEnum like ErrorCode: a lenient read keeps a level newer than the
    reader as its plain string.
    """

    ALL = "all"
    MENTIONS = "mentions"  # only messages whose `mentions` name the user
    NONE = "none"


class PushKind(enum.StrEnum):
    """The push providers a target may name (v1.1)."""

    WEBPUSH = "webpush"  # RFC 8030 push service, payload encrypted per RFC 8291
    UNIFIEDPUSH = "unifiedpush"  # the same protocol, endpoint from a distributor
    FCM = "fcm"  # endpoint: the FCM registration token
    APNS = "apns"  # endpoint: the device token


#: Each kind's provider fields, beside `kind` and `endpoint` at the top level
#: of the frame: name -> (type, required). Other keys are not provider fields
#: (a later version may add some) and are not kept.
PUSH_FIELDS: dict[PushKind, dict[str, tuple[type, bool]]] = {
    PushKind.WEBPUSH: {"auth": (str, True), "p256dh": (str, True)},
    PushKind.UNIFIEDPUSH: {"auth": (str, True), "p256dh": (str, True)},
    PushKind.FCM: {},
    PushKind.APNS: {"sandbox": (bool, False), "topic": (str, False)},
}

#: Characters in an endpoint, and in one string provider field.
MAX_ENDPOINT_CHARS = 4096
MAX_PUSH_FIELD_CHARS = 4096

ProviderValue = str | bool


def _sorted_pairs(items: Iterable[tuple[str, ProviderValue]]) -> tuple[tuple[str, ProviderValue], ...]:
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
    #: v1.1: the caller's `notify` level in force, where one is set; None
    #: (left out of the frame) means `all`. A str only as a lenient read of
    #: a level newer than the reader.
    notify: NotifyLevel | str | None = field(default=None, validator=optional(instance_of(str)))

    def _wire(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "channel": self.channel,
            "kind": self.kind.value,
            "name": self.name,
            "members": sorted_ids(self.members),
            "last": self.last,
            "read": self.read,
        }
        if self.notify is not None:
            fields["notify"] = str(self.notify)
        return fields

    @classmethod
    def _read(cls, f: Fields) -> ChannelInfo:
        return cls(
            channel=f.id("channel"),
            kind=f.enum("kind", ChannelKind),
            name=f.text("name"),
            members=f.ids("members"),
            last=f.seq("last"),
            read=f.seq("read"),
            notify=f.known("notify", NotifyLevel) if f.has("notify") else None,
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
    """Where to notify a device while it is not connected (v1.1: a known `kind`).

    `fields` are the kind's provider fields (`PUSH_FIELDS`), kept sorted by
    name so that equal targets are equal values; the constructors below
    name them. Types and presence are checked here; whether the endpoint and
    keys are usable (an https URL of a public host, a P-256 point) is the
    push service's to say when the server is asked to store the target.
    """

    kind: PushKind = field(converter=PushKind)
    endpoint: str = field(validator=instance_of(str))
    fields: tuple[tuple[str, ProviderValue], ...] = field(default=(), converter=_sorted_pairs)

    @fields.validator
    def _of_the_kind(self, _attribute: object, fields: tuple[tuple[str, ProviderValue], ...]) -> None:
        schema = PUSH_FIELDS[self.kind]
        for name, value in fields:
            if name not in schema:
                raise ValueError(f"{self.kind} targets have no field {name!r}")
            # bool is an int, never a str; `type is` keeps the two apart.
            if type(value) is not schema[name][0]:
                raise TypeError(f"push field {name!r} must be a {schema[name][0].__name__}")
        missing = sorted(name for name, (_, required) in schema.items() if required and name not in dict(fields))
        if missing:
            raise ValueError(f"{self.kind} targets need {missing}")

    @classmethod
    def webpush(cls, endpoint: str, p256dh: str, auth: str, *, unified: bool = False) -> PushTarget:
        """A browser's PushSubscription (or, `unified`, a UnifiedPush distributor's endpoint)."""
        kind = PushKind.UNIFIEDPUSH if unified else PushKind.WEBPUSH
        return cls(kind, endpoint, (("p256dh", p256dh), ("auth", auth)))

    @classmethod
    def fcm(cls, token: str) -> PushTarget:
        return cls(PushKind.FCM, token)

    @classmethod
    def apns(cls, token: str, *, topic: str | None = None, sandbox: bool = False) -> PushTarget:
        fields: list[tuple[str, ProviderValue]] = [] if topic is None else [("topic", topic)]
        if sandbox:
            fields.append(("sandbox", True))
        return cls(PushKind.APNS, token, fields)

    def get(self, name: str) -> ProviderValue | None:
        """The provider field `name`, None when the target does not have it."""
        return dict(self.fields).get(name)

    def _wire(self) -> dict[str, Any]:
        return {**dict(self.fields), "kind": self.kind.value, "endpoint": self.endpoint}

    @classmethod
    def _read(cls, f: Fields) -> PushTarget:
        """A target off a `push` frame whose `endpoint` is not nil."""
        endpoint = f.text("endpoint", 1, MAX_ENDPOINT_CHARS)
        try:
            kind = PushKind(f.text("kind"))
        except ValueError:
            raise bad(f"kind must be one of {', '.join(sorted(PushKind))}") from None
        fields: list[tuple[str, ProviderValue]] = []
        for name, (kind_of, required) in PUSH_FIELDS[kind].items():
            if not (required or f.has(name)):
                continue
            value = f.boolean(name) if kind_of is bool else f.text(name, 1, MAX_PUSH_FIELD_CHARS)
            fields.append((name, value))
        return cls(kind, endpoint, fields)
