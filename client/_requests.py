"""The protocol's requests, one frozen class each: its fields and how to read its `ok`.

A request knows whether it is safe to send twice (`IDEMPOTENT`), which is what
`ChatClient` needs to decide, after a lost connection, between retrying and
raising `ConnectionLost`. Arguments are type-checked here so that a client bug
fails at the call site, not as a `bad_request` from the node; value limits an
operator may change (body length, page size) are left to the node. Sans-IO.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

import attrs
from attrs import field, frozen
from attrs.validators import instance_of, optional

from ._errors import ProtocolError
from ._values import ChannelInfo, Credentials, Device, Page, PresenceInfo, Sent, Session
from ._wire import (
    Fields,
    channel_info,
    device,
    get_bool,
    get_int,
    get_maps,
    get_seconds,
    get_str,
    message,
    presence_info,
)

R = TypeVar("R")


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer id, got {value!r}")


def _seq(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative seq, got {value!r}")


def _limit(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError(f"{attribute.name} must be a positive integer or None, got {value!r}")


def _id_tuple(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


def _ids(_: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    for v in value:
        _positive(_, attribute, v)


_text = instance_of(str)


class Request(Generic[R]):
    """Base of the request classes; `R` is what the request returns."""

    TYPE: ClassVar[str]
    IDEMPOTENT: ClassVar[bool]

    def fields(self) -> dict[str, object]:
        # Every concrete request is an attrs class; this base is not.
        return {a.name: getattr(self, a.name) for a in attrs.fields(cast(Any, type(self)))}

    def frame(self, request_id: int) -> dict[str, object]:
        return {"t": self.TYPE, "id": request_id, **self.fields()}

    def result(self, ok: Fields) -> R:
        raise NotImplementedError


class _NoResult(Request[None]):
    def result(self, ok: Fields) -> None:
        return None


@frozen
class Register(Request[int]):
    """Create an account; returns the new user id."""

    TYPE = "register"
    IDEMPOTENT = False
    username: str = field(validator=_text)
    password: str = field(validator=_text, repr=False)

    def result(self, ok: Fields) -> int:
        return get_int(ok, "user")


@frozen
class Login(Request[Credentials]):
    """Create a device named `device` on the account; returns its token."""

    TYPE = "login"
    IDEMPOTENT = False  # every login creates another device
    username: str = field(validator=_text)
    password: str = field(validator=_text, repr=False)
    device: str = field(validator=_text)

    def result(self, ok: Fields) -> Credentials:
        return Credentials(get_int(ok, "user"), get_int(ok, "device"), get_str(ok, "token"))


@frozen
class Auth(Request[Session]):
    TYPE = "auth"
    IDEMPOTENT = True
    token: str = field(validator=_text, repr=False)

    def result(self, ok: Fields) -> Session:
        return Session(get_int(ok, "user"), get_int(ok, "device"), get_seconds(ok, "heartbeat"))


@frozen
class Logout(_NoResult):
    TYPE = "logout"
    IDEMPOTENT = False


@frozen
class Devices(Request[tuple[Device, ...]]):
    TYPE = "devices"
    IDEMPOTENT = True

    def result(self, ok: Fields) -> tuple[Device, ...]:
        return get_maps(ok, "devices", device)


@frozen
class Revoke(_NoResult):
    TYPE = "revoke"
    IDEMPOTENT = False  # a second revoke answers not_found
    device: int = field(validator=_positive)


@frozen
class Lookup(Request[int]):
    TYPE = "lookup"
    IDEMPOTENT = True
    username: str = field(validator=_text)

    def result(self, ok: Fields) -> int:
        return get_int(ok, "user")


@frozen
class Direct(Request[int]):
    """The one 1:1 channel with `user` (created on first use, so repeating it is harmless)."""

    TYPE = "direct"
    IDEMPOTENT = True
    user: int = field(validator=_positive)

    def result(self, ok: Fields) -> int:
        return get_int(ok, "channel")


@frozen
class Group(Request[int]):
    TYPE = "group"
    IDEMPOTENT = False  # every group request creates a group
    name: str = field(validator=_text)
    members: tuple[int, ...] = field(converter=_id_tuple, validator=_ids)

    def result(self, ok: Fields) -> int:
        return get_int(ok, "channel")


@frozen
class Invite(_NoResult):
    TYPE = "invite"
    IDEMPOTENT = False
    channel: int = field(validator=_positive)
    users: tuple[int, ...] = field(converter=_id_tuple, validator=_ids)


@frozen
class Leave(_NoResult):
    TYPE = "leave"
    IDEMPOTENT = False  # a second leave answers not_member
    channel: int = field(validator=_positive)


@frozen
class Channels(Request[tuple[ChannelInfo, ...]]):
    TYPE = "channels"
    IDEMPOTENT = True

    def result(self, ok: Fields) -> tuple[ChannelInfo, ...]:
        return get_maps(ok, "channels", channel_info)


@frozen
class Send(Request[Sent]):
    TYPE = "send"
    IDEMPOTENT = True  # the node stores one message per (sender, cid)
    channel: int = field(validator=_positive)
    body: str = field(validator=_text)
    cid: str = field(validator=_text)

    def result(self, ok: Fields) -> Sent:
        return Sent(get_int(ok, "channel"), get_int(ok, "seq"), get_int(ok, "ts"))


class _Paged(Request[Page]):
    channel: int

    def fields(self) -> dict[str, object]:
        # An absent limit means the node's default; nil is not a valid limit.
        return {k: v for k, v in super().fields().items() if not (k == "limit" and v is None)}

    def result(self, ok: Fields) -> Page:
        page = Page(get_maps(ok, "messages", message), get_bool(ok, "more"))
        # Cursors are advanced from these pages: a message of another channel,
        # or out of order, would corrupt them, so it is refused here.
        seqs = [m.seq for m in page.messages]
        if any(m.channel != self.channel for m in page.messages):
            raise ProtocolError(f"a page of channel {self.channel} holds another channel's message")
        if any(a >= b for a, b in zip(seqs, seqs[1:])) or not all(self.in_range(s) for s in seqs):
            raise ProtocolError(f"page seqs out of order or out of range for {self!r}: {seqs}")
        return page

    def in_range(self, seq: int) -> bool:
        raise NotImplementedError


@frozen
class Sync(_Paged):
    """Messages with seq > `after`, ascending."""

    TYPE = "sync"
    IDEMPOTENT = True
    channel: int = field(validator=_positive)
    after: int = field(validator=_seq)
    limit: int | None = field(default=None, validator=_limit)

    def in_range(self, seq: int) -> bool:
        return seq > self.after


@frozen
class History(_Paged):
    """The newest messages with seq < `before`, ascending."""

    TYPE = "history"
    IDEMPOTENT = True
    channel: int = field(validator=_positive)
    before: int = field(validator=_seq)
    limit: int | None = field(default=None, validator=_limit)

    def in_range(self, seq: int) -> bool:
        return 0 < seq < self.before


@frozen
class Read(_NoResult):
    TYPE = "read"
    IDEMPOTENT = True  # a read marker only moves forward
    channel: int = field(validator=_positive)
    seq: int = field(validator=_seq)


@frozen
class Typing(_NoResult):
    TYPE = "typing"
    IDEMPOTENT = False  # stale after a reconnect: better dropped than repeated
    channel: int = field(validator=_positive)


@frozen
class Presence(Request[tuple[PresenceInfo, ...]]):
    TYPE = "presence"
    IDEMPOTENT = True
    users: tuple[int, ...] = field(converter=_id_tuple, validator=_ids)

    def result(self, ok: Fields) -> tuple[PresenceInfo, ...]:
        return get_maps(ok, "presence", presence_info)


_PUSH_RESERVED = frozenset({"t", "id", "kind", "endpoint"})


def _provider_fields(value: Mapping[str, object]) -> tuple[tuple[str, object], ...]:
    # A tuple of pairs rather than a dict keeps the request hashable like every value.
    return tuple(sorted(value.items()))


def _check_provider(_: object, attribute: attrs.Attribute[Any], value: tuple[tuple[str, object], ...]) -> None:
    clash = _PUSH_RESERVED.intersection(k for k, _v in value)
    if clash:
        raise ValueError(f"{attribute.name} may not set {sorted(clash)}")


@frozen
class Push(_NoResult):
    """Set this device's push target, or remove it with `endpoint=None`.

    `provider` holds the provider's own fields, sent beside `kind` and `endpoint`.
    """

    TYPE = "push"
    IDEMPOTENT = True
    kind: str = field(validator=_text)
    endpoint: str | None = field(validator=optional(_text))
    provider: tuple[tuple[str, object], ...] = field(
        factory=dict, converter=_provider_fields, validator=_check_provider
    )

    def fields(self) -> dict[str, object]:
        return {"kind": self.kind, "endpoint": self.endpoint, **dict(self.provider)}


@frozen
class Ping(_NoResult):
    TYPE = "ping"
    IDEMPOTENT = True
