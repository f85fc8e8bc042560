"""Client requests: one frozen value per `t`, validated as it is read.

A request class declares its fields with the reader that validates each one
off the wire and the check that validates it where a client builds it
(`_wire_field`); parsing and encoding are written once, in `_Request`, from
those declarations. Fields are read in declaration order and the first bad
one decides the answer.

Both sides build these values: the server parses them from a client's frame,
a client builds them to send. The checks a value gets when it is built are
about types (an id is a positive 63-bit integer, a body a str), so that a
client's bug fails at its call site; limits an operator may change (body
length, page size) and the rules that decide an error code are the readers'
alone, applied by the server that knows them.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self

import attrs
from attrs import frozen
from attrs.validators import instance_of, optional

from ._errors import DEFAULT_MESSAGES, ErrorCode, FieldError
from ._fields import MAX_INT63, Fields, bad, is_int
from ._limits import Limits
from ._replies import (
    AuthResult,
    ChannelResult,
    ChannelsResult,
    DevicesResult,
    LoginResult,
    PageResult,
    PresenceResult,
    PushResult,
    Result,
    SendResult,
    UserResult,
    UsersResult,
)
from ._values import NotifyLevel, PushTarget, redacted, sized, sorted_ids

Reader = Callable[[Fields, str, Limits], Any]
Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]

_USERNAME = re.compile(r"[a-z0-9_.-]{3,32}", re.ASCII)
PASSWORD_CHARS = (8, 1024)
DEVICE_NAME_CHARS = (1, 64)
GROUP_NAME_CHARS = (1, 128)
CID_CHARS = (1, 64)
# Tokens are ours (a few dozen characters); the bound only stops a peer from
# making us hash a megabyte before answering bad_token.
MAX_TOKEN_CHARS = 512


class Phase(enum.Enum):
    """When a request may be made; the session's transition table keys on it."""

    OPEN = "open"  # register, login: before authentication only
    AUTH = "auth"  # auth: turns the connection into a device's
    PING = "ping"  # in every state
    USER = "user"  # acts as the authenticated device


def is_username(value: str) -> bool:
    return _USERNAME.fullmatch(value) is not None


def _wire_field(
    read: Reader,
    check: Check,
    write: Callable[[Any], Any] | None = None,
    *,
    convert: Callable[[Any], Any] | None = None,
    show: Callable[[Any], str] | bool = True,
    default: Any = attrs.NOTHING,
) -> Any:
    """A request field: `read` validates it off the wire, `check` where a
    value is built (after `convert`), `write` (if the value is not already
    wire-ready) puts it back, `show` is its repr.

    `default` is for optional fields: a field holding its default is left
    out of the frame, so the frame says what a v1 peer expects and the
    server fills in its own default (an operator's page size, say).
    """
    return attrs.field(
        metadata={"read": read, "write": write},
        validator=check,
        converter=convert,
        repr=show,
        default=default,
    )


# -- checks: the type of a value a client builds, as attrs validators ---------


def _is_id(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (is_int(value) and 1 <= value <= MAX_INT63):
        raise ValueError(f"{attribute.name} must be a positive 63-bit integer, not {value!r}")


def _is_seq(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Request ids, seqs and cursors: 0 or more, 63-bit."""
    if not (is_int(value) and 0 <= value <= MAX_INT63):
        raise ValueError(f"{attribute.name} must be a 63-bit integer >= 0, not {value!r}")


def _is_ids(_instance: object, attribute: attrs.Attribute[Any], value: frozenset[object]) -> None:
    for item in value:
        _is_id(_instance, attribute, item)


_is_text = instance_of(str)  # its message names the type, never a secret's value


def _id_set(value: Iterable[int]) -> frozenset[int]:
    # Members and users are sets: their order on the wire means nothing.
    return frozenset(value)


# -- readers: (fields, key, limits) -> value, or FieldError -----------------


def _id(f: Fields, key: str, _limits: Limits) -> int:
    return f.id(key)


def _seq(f: Fields, key: str, _limits: Limits) -> int:
    return f.seq(key)


def _text(lo: int, hi: int) -> Reader:
    return lambda f, key, _limits: f.text(key, lo, hi)


def _new_username(f: Fields, key: str, _limits: Limits) -> str:
    value = f.text(key)
    if not is_username(value):
        raise bad("username must be 3..32 of a-z 0-9 _ . -")
    return value


def _known(code: ErrorCode, valid: Callable[[str], bool]) -> Reader:
    """A string naming something that must exist: one no account could have
    gets the same answer as any other unknown name, not bad_request."""

    def read(f: Fields, key: str, _limits: Limits) -> str:
        value = f.text(key)
        if not valid(value):
            raise FieldError(code, DEFAULT_MESSAGES[code])
        return value

    return read


def _password_length(value: str) -> bool:
    return PASSWORD_CHARS[0] <= len(value) <= PASSWORD_CHARS[1]


def _token_length(value: str) -> bool:
    return 1 <= len(value) <= MAX_TOKEN_CHARS


def _body(f: Fields, key: str, limits: Limits) -> str:
    value = f.text(key)
    # len() counts code points: a 4-byte UTF-8 character is one character.
    if len(value) > limits.max_body_chars:
        raise FieldError(ErrorCode.TOO_LONG, f"body exceeds {limits.max_body_chars} characters")
    return value


def _page_limit(f: Fields, key: str, limits: Limits) -> int:
    return f.opt_int(key, 1, limits.max_page, limits.default_page)


def _members(f: Fields, key: str, limits: Limits) -> frozenset[int]:
    # The exact count (creator and present members included) is the
    # channel's to check; this only refuses lists that can never fit.
    return f.ids(key, limits.max_group_members, ErrorCode.TOO_MANY_MEMBERS)


def _presence_users(f: Fields, key: str, limits: Limits) -> frozenset[int]:
    return f.ids(key, limits.max_presence_users)


def _mentions(f: Fields, key: str, limits: Limits) -> frozenset[int]:
    # Whether they are members is the channel's to check (bad_request);
    # no channel has more members than this.
    return f.ids(key, limits.max_group_members) if f.has(key) else frozenset()


def _level(f: Fields, key: str, _limits: Limits) -> NotifyLevel:
    try:
        return NotifyLevel(f.text(key))
    except ValueError:
        raise bad(f"level must be one of {', '.join(NotifyLevel)}") from None


def _opt_time(f: Fields, key: str, _limits: Limits) -> int | None:
    return f.seq(key) if f.has(key) else None


# -- requests ------------------------------------------------------------------


@frozen
class _Request:
    """Base: every request has its client-chosen `id`.

    A client builds a request before it knows its id (0 then, a valid id no
    client table hands out) and numbers it when it sends it
    (`attrs.evolve(request, id=n)`), so one value can be sent again, under a
    new id, on the next connection.
    """

    T: ClassVar[str]
    PHASE: ClassVar[Phase]
    RESULT: ClassVar[type[Result] | None] = None
    #: Whether sending it twice does what sending it once does, so a client
    #: that lost the connection before the reply may send it again.
    IDEMPOTENT: ClassVar[bool]
    id: int = attrs.field(validator=_is_seq)

    @classmethod
    def _parse(cls, request_id: int, f: Fields, limits: Limits) -> Self:
        return cls(request_id, **{name: read(f, name, limits) for name, read, _, _ in _declared(cls)})

    def _frame(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"t": self.T, "id": self.id}
        for name, _, write, default in _declared(type(self)):
            value = getattr(self, name)
            if value != default:
                fields[name] = value if write is None else write(value)
        return fields

    def _read_result(self, f: Fields) -> Result | None:
        """The result of this request's `ok`, read from the reply's fields.

        Raises FieldError for fields that are not this request's result, or
        a result the contract does not allow as the answer to this request.
        """
        if self.RESULT is None:
            return None  # fields a later version adds to a bare `ok` are ignored
        result = self.RESULT._read(f)
        self._check_result(result)
        return result

    def _check_result(self, result: Result) -> None:
        """What the contract promises about this request's result beyond its types."""


@functools.cache
def _declared(
    cls: type[_Request],
) -> tuple[tuple[str, Reader, Callable[[Any], Any] | None, Any], ...]:
    """(name, reader, writer, default) of each wire field after `id`, in order."""
    return tuple(
        (a.name, a.metadata["read"], a.metadata["write"], a.default)
        for a in attrs.fields(cls)[1:]
    )


def _check_page(
    page: PageResult, channel: int, limit: int | None, in_range: Callable[[int], bool]
) -> None:
    # A client advances its cursors from pages: a message of another channel,
    # out of order or out of the asked range would corrupt them.
    seqs = [message.seq for message in page.messages]
    if any(message.channel != channel for message in page.messages):
        raise bad(f"a page of channel {channel} holds another channel's message")
    if any(a >= b for a, b in zip(seqs, seqs[1:])) or not all(map(in_range, seqs)):
        raise bad(f"page seqs out of order or out of the asked range: {seqs}")
    if limit is not None and len(seqs) > limit:
        raise bad(f"a page of {len(seqs)} messages for a limit of {limit}")


@frozen
class RegisterRequest(_Request):
    T = "register"
    PHASE = Phase.OPEN
    RESULT = UserResult
    IDEMPOTENT = False  # a second register answers username_taken
    username: str = _wire_field(_new_username, _is_text)
    password: str = _wire_field(_text(*PASSWORD_CHARS), _is_text, show=redacted)


@frozen
class LoginRequest(_Request):
    T = "login"
    PHASE = Phase.OPEN
    RESULT = LoginResult
    IDEMPOTENT = False  # every login creates another device
    username: str = _wire_field(_known(ErrorCode.BAD_CREDENTIALS, is_username), _is_text)
    password: str = _wire_field(
        _known(ErrorCode.BAD_CREDENTIALS, _password_length), _is_text, show=redacted
    )
    device: str = _wire_field(_text(*DEVICE_NAME_CHARS), _is_text)  # the new device's name


@frozen
class AuthRequest(_Request):
    T = "auth"
    PHASE = Phase.AUTH
    RESULT = AuthResult
    IDEMPOTENT = True
    token: str = _wire_field(_known(ErrorCode.BAD_TOKEN, _token_length), _is_text, show=redacted)


@frozen
class PingRequest(_Request):
    T = "ping"
    PHASE = Phase.PING
    IDEMPOTENT = True


@frozen
class LookupRequest(_Request):
    T = "lookup"
    PHASE = Phase.USER
    RESULT = UserResult
    IDEMPOTENT = True
    username: str = _wire_field(_known(ErrorCode.NOT_FOUND, is_username), _is_text)


@frozen
class DirectRequest(_Request):
    """The one 1:1 channel with `user` (created on first use, so repeating it is harmless)."""

    T = "direct"
    PHASE = Phase.USER
    RESULT = ChannelResult
    IDEMPOTENT = True
    user: int = _wire_field(_id, _is_id)


@frozen
class GroupRequest(_Request):
    T = "group"
    PHASE = Phase.USER
    RESULT = ChannelResult
    IDEMPOTENT = False  # every group request creates a group
    name: str = _wire_field(_text(*GROUP_NAME_CHARS), _is_text)
    # The creator may be left out.
    members: frozenset[int] = _wire_field(_members, _is_ids, sorted_ids, convert=_id_set)


@frozen
class InviteRequest(_Request):
    T = "invite"
    PHASE = Phase.USER
    IDEMPOTENT = False
    channel: int = _wire_field(_id, _is_id)
    users: frozenset[int] = _wire_field(_members, _is_ids, sorted_ids, convert=_id_set)


@frozen
class LeaveRequest(_Request):
    T = "leave"
    PHASE = Phase.USER
    IDEMPOTENT = False  # a second leave answers not_member
    channel: int = _wire_field(_id, _is_id)


def _channels_limit(f: Fields, key: str, limits: Limits) -> int:
    return f.opt_int(key, 1, limits.max_channels_page, limits.max_channels_page)


def _opt_seq(f: Fields, key: str, _limits: Limits) -> int:
    return f.seq(key) if f.has(key) else 0


@frozen
class ChannelsRequest(_Request):
    """v1.1 pages the list: channels with id > `after`, ascending, at most `limit`.

    A client goes on from the last channel of a page while the reply says
    `more`. Both fields are left out at their defaults, which asks a v1
    server for the whole list.
    """

    T = "channels"
    PHASE = Phase.USER
    RESULT = ChannelsResult
    IDEMPOTENT = True
    after: int = _wire_field(_opt_seq, _is_seq, default=0)
    limit: int = _wire_field(_channels_limit, _is_id, default=500)

    def _check_result(self, result: Result) -> None:
        assert isinstance(result, ChannelsResult)
        # Neither the count (a `limit` left out is the server's own maximum)
        # nor the order (a v1 server lists in any order; a client goes on
        # from the highest id of a page).
        if any(info.channel <= self.after for info in result.channels):
            raise bad(f"a channels page after {self.after} holds a channel not after it")
        if result.more and not result.channels:
            raise bad("an empty channels page says there are more")


@frozen
class SendRequest(_Request):
    T = "send"
    PHASE = Phase.USER
    RESULT = SendResult
    IDEMPOTENT = True  # the server stores one message per (sender, cid)
    channel: int = _wire_field(_id, _is_id)
    body: str = _wire_field(_body, _is_text, show=sized)
    cid: str = _wire_field(_text(*CID_CHARS), _is_text)
    #: v1.1: users the message mentions, members of the channel; they get a
    #: push even where their level is `mentions`.
    mentions: frozenset[int] = _wire_field(_mentions, _is_ids, sorted_ids, convert=_id_set, default=frozenset())


@frozen
class SyncRequest(_Request):
    """Messages with seq > `after`, ascending; a `limit` of None asks for the server's default."""

    T = "sync"
    PHASE = Phase.USER
    RESULT = PageResult
    IDEMPOTENT = True
    channel: int = _wire_field(_id, _is_id)
    after: int = _wire_field(_seq, _is_seq)
    # None only in a request a client builds: a parsed one has the server's value.
    limit: int | None = _wire_field(_page_limit, optional(_is_id), default=None)

    def _check_result(self, result: Result) -> None:
        assert isinstance(result, PageResult)
        _check_page(result, self.channel, self.limit, lambda seq: seq > self.after)


@frozen
class HistoryRequest(_Request):
    """The newest messages with seq < `before`, ascending."""

    T = "history"
    PHASE = Phase.USER
    RESULT = PageResult
    IDEMPOTENT = True
    channel: int = _wire_field(_id, _is_id)
    before: int = _wire_field(_seq, _is_seq)
    limit: int | None = _wire_field(_page_limit, optional(_is_id), default=None)

    def _check_result(self, result: Result) -> None:
        assert isinstance(result, PageResult)
        _check_page(result, self.channel, self.limit, lambda seq: 0 < seq < self.before)


@frozen
class ReadRequest(_Request):
    T = "read"
    PHASE = Phase.USER
    IDEMPOTENT = True  # a read marker only moves forward
    channel: int = _wire_field(_id, _is_id)
    seq: int = _wire_field(_seq, _is_seq)


@frozen
class AckRequest(_Request):
    """v1.1: this device holds every message of `channel` up to `seq`.

    Only the node hears of it (no receipt goes out): it is how the node knows
    a connected device got a message, and so need not push it.
    """

    T = "ack"
    PHASE = Phase.USER
    IDEMPOTENT = True
    channel: int = _wire_field(_id, _is_id)
    seq: int = _wire_field(_seq, _is_seq)


@frozen
class NotifyRequest(_Request):
    """v1.1: which messages of `channel` push to this user's devices, until `until` (ms) or for good."""

    T = "notify"
    PHASE = Phase.USER
    IDEMPOTENT = True
    channel: int = _wire_field(_id, _is_id)
    level: NotifyLevel = _wire_field(_level, instance_of(NotifyLevel), str, convert=NotifyLevel)
    until: int | None = _wire_field(_opt_time, optional(_is_seq), default=None)


@frozen
class TypingRequest(_Request):
    T = "typing"
    PHASE = Phase.USER
    IDEMPOTENT = False  # stale after a reconnect: better dropped than repeated
    channel: int = _wire_field(_id, _is_id)


@frozen
class PresenceRequest(_Request):
    T = "presence"
    PHASE = Phase.USER
    RESULT = PresenceResult
    IDEMPOTENT = True
    users: frozenset[int] = _wire_field(_presence_users, _is_ids, sorted_ids, convert=_id_set)


@frozen
class PushRequest(_Request):
    """Set this device's push target, or remove it (`target` None, endpoint nil).

    v1.1: `kind` names a provider of `PushKind`, with that provider's fields
    (`PUSH_FIELDS`). `preview`: the device asks for message previews, which
    it gets only where the operator enabled them; for FCM and APNs targets
    the reply then carries the key they are encrypted with, once.
    """

    T = "push"
    PHASE = Phase.USER
    RESULT = PushResult
    IDEMPOTENT = True
    target: PushTarget | None = attrs.field(validator=optional(instance_of(PushTarget)))
    preview: bool = attrs.field(default=False, validator=instance_of(bool))

    @classmethod
    def _parse(cls, request_id: int, f: Fields, limits: Limits) -> Self:
        if "endpoint" not in f:
            raise bad("missing field 'endpoint'")
        if not f.has("endpoint"):
            return cls(request_id, None)
        target = PushTarget._read(f)
        return cls(request_id, target, f.boolean("preview") if f.has("preview") else False)

    def _frame(self) -> dict[str, Any]:
        if self.target is None:
            return {"t": self.T, "id": self.id, "endpoint": None}
        preview = {"preview": True} if self.preview else {}
        return {"t": self.T, "id": self.id, **self.target._wire(), **preview}


@frozen
class DevicesRequest(_Request):
    T = "devices"
    PHASE = Phase.USER
    RESULT = DevicesResult
    IDEMPOTENT = True


@frozen
class RevokeRequest(_Request):
    T = "revoke"
    PHASE = Phase.USER
    IDEMPOTENT = False  # a second revoke answers not_found
    device: int = _wire_field(_id, _is_id)


@frozen
class LogoutRequest(_Request):
    T = "logout"
    PHASE = Phase.USER
    IDEMPOTENT = False  # the server closes the connection after it


@frozen
class BlockRequest(_Request):
    """v1.1: `user` may no longer put this user in a channel or send into their direct one."""

    T = "block"
    PHASE = Phase.USER
    IDEMPOTENT = True
    user: int = _wire_field(_id, _is_id)


@frozen
class UnblockRequest(_Request):
    T = "unblock"
    PHASE = Phase.USER
    IDEMPOTENT = True
    user: int = _wire_field(_id, _is_id)


@frozen
class BlockedRequest(_Request):
    T = "blocked"
    PHASE = Phase.USER
    RESULT = UsersResult
    IDEMPOTENT = True


Request = (
    RegisterRequest
    | LoginRequest
    | AuthRequest
    | PingRequest
    | LookupRequest
    | DirectRequest
    | GroupRequest
    | InviteRequest
    | LeaveRequest
    | ChannelsRequest
    | SendRequest
    | SyncRequest
    | HistoryRequest
    | ReadRequest
    | AckRequest
    | NotifyRequest
    | TypingRequest
    | PresenceRequest
    | PushRequest
    | DevicesRequest
    | RevokeRequest
    | LogoutRequest
    | BlockRequest
    | UnblockRequest
    | BlockedRequest
)

REQUEST_TYPES: dict[str, type[Request]] = {
    cls.T: cls
    for cls in (
        RegisterRequest,
        LoginRequest,
        AuthRequest,
        PingRequest,
        LookupRequest,
        DirectRequest,
        GroupRequest,
        InviteRequest,
        LeaveRequest,
        ChannelsRequest,
        SendRequest,
        SyncRequest,
        HistoryRequest,
        ReadRequest,
        AckRequest,
        NotifyRequest,
        TypingRequest,
        PresenceRequest,
        PushRequest,
        DevicesRequest,
        RevokeRequest,
        LogoutRequest,
        BlockRequest,
        UnblockRequest,
        BlockedRequest,
    )
}
