"""Client requests: one frozen value per `t`, validated as it is read.

A request class declares its fields with the reader that validates each one
(`_wire_field`); parsing and encoding are written once, in `_Request`, from
those declarations. Fields are read in declaration order and the first bad
one decides the answer.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar, Self

import attrs
from attrs import frozen

from ._errors import DEFAULT_MESSAGES, ErrorCode, FieldError
from ._fields import Fields, bad
from ._limits import Limits
from ._replies import (
    AuthResult,
    ChannelResult,
    ChannelsResult,
    DevicesResult,
    LoginResult,
    PageResult,
    PresenceResult,
    Result,
    SendResult,
    UserResult,
    UsersResult,
)
from ._values import PUSH_RESERVED, PushTarget, redacted, sized, sorted_ids

Reader = Callable[[Fields, str, Limits], Any]

_USERNAME = re.compile(r"[a-z0-9_.-]{3,32}", re.ASCII)
PASSWORD_CHARS = (8, 1024)
DEVICE_NAME_CHARS = (1, 64)
GROUP_NAME_CHARS = (1, 128)
CID_CHARS = (1, 64)
# Tokens are ours (a few dozen characters); the bound only stops a peer from
# making us hash a megabyte before answering bad_token.
MAX_TOKEN_CHARS = 512
_PUSH_KIND = re.compile(r"[a-z0-9_-]{1,32}", re.ASCII)
MAX_ENDPOINT_CHARS = 4096
MAX_PUSH_FIELDS = 16
MAX_PUSH_FIELD_CHARS = 4096


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
    write: Callable[[Any], Any] | None = None,
    *,
    show: Callable[[Any], str] | bool = True,
    default: Any = attrs.NOTHING,
) -> Any:
    """A request field: `read` validates it off the wire, `write` (if the
    value is not already wire-ready) puts it back, `show` is its repr;
    `default` is for fields later protocol versions added as optional."""
    return attrs.field(metadata={"read": read, "write": write}, repr=show, default=default)


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


# -- requests ------------------------------------------------------------------


@frozen
class _Request:
    """Base: every request has its client-chosen `id`."""

    T: ClassVar[str]
    PHASE: ClassVar[Phase]
    RESULT: ClassVar[type[Result] | None] = None
    id: int

    @classmethod
    def _parse(cls, request_id: int, f: Fields, limits: Limits) -> Self:
        return cls(request_id, **{name: read(f, name, limits) for name, read, _ in _declared(cls)})

    def _frame(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"t": self.T, "id": self.id}
        for name, _, write in _declared(type(self)):
            value = getattr(self, name)
            fields[name] = value if write is None else write(value)
        return fields


@functools.cache
def _declared(cls: type[_Request]) -> tuple[tuple[str, Reader, Callable[[Any], Any] | None], ...]:
    """(name, reader, writer) of each wire field after `id`, in order."""
    return tuple((a.name, a.metadata["read"], a.metadata["write"]) for a in attrs.fields(cls)[1:])


@frozen
class RegisterRequest(_Request):
    T = "register"
    PHASE = Phase.OPEN
    RESULT = UserResult
    username: str = _wire_field(_new_username)
    password: str = _wire_field(_text(*PASSWORD_CHARS), show=redacted)


@frozen
class LoginRequest(_Request):
    T = "login"
    PHASE = Phase.OPEN
    RESULT = LoginResult
    username: str = _wire_field(_known(ErrorCode.BAD_CREDENTIALS, is_username))
    password: str = _wire_field(_known(ErrorCode.BAD_CREDENTIALS, _password_length), show=redacted)
    device: str = _wire_field(_text(*DEVICE_NAME_CHARS))  # the new device's name


@frozen
class AuthRequest(_Request):
    T = "auth"
    PHASE = Phase.AUTH
    RESULT = AuthResult
    token: str = _wire_field(_known(ErrorCode.BAD_TOKEN, _token_length), show=redacted)


@frozen
class PingRequest(_Request):
    T = "ping"
    PHASE = Phase.PING


@frozen
class LookupRequest(_Request):
    T = "lookup"
    PHASE = Phase.USER
    RESULT = UserResult
    username: str = _wire_field(_known(ErrorCode.NOT_FOUND, is_username))


@frozen
class DirectRequest(_Request):
    T = "direct"
    PHASE = Phase.USER
    RESULT = ChannelResult
    user: int = _wire_field(_id)


@frozen
class GroupRequest(_Request):
    T = "group"
    PHASE = Phase.USER
    RESULT = ChannelResult
    name: str = _wire_field(_text(*GROUP_NAME_CHARS))
    members: frozenset[int] = _wire_field(_members, sorted_ids)  # the creator may be left out


@frozen
class InviteRequest(_Request):
    T = "invite"
    PHASE = Phase.USER
    channel: int = _wire_field(_id)
    users: frozenset[int] = _wire_field(_members, sorted_ids)


@frozen
class LeaveRequest(_Request):
    T = "leave"
    PHASE = Phase.USER
    channel: int = _wire_field(_id)


def _channels_limit(f: Fields, key: str, limits: Limits) -> int:
    return f.opt_int(key, 1, limits.max_channels_page, limits.max_channels_page)


def _opt_seq(f: Fields, key: str, _limits: Limits) -> int:
    return f.seq(key) if f.has(key) else 0


@frozen
class ChannelsRequest(_Request):
    """v1.1 pages the list: channels with id > `after`, ascending, at most `limit`."""

    T = "channels"
    PHASE = Phase.USER
    RESULT = ChannelsResult
    after: int = _wire_field(_opt_seq, default=0)
    limit: int = _wire_field(_channels_limit, default=500)


@frozen
class SendRequest(_Request):
    T = "send"
    PHASE = Phase.USER
    RESULT = SendResult
    channel: int = _wire_field(_id)
    body: str = _wire_field(_body, show=sized)
    cid: str = _wire_field(_text(*CID_CHARS))


@frozen
class SyncRequest(_Request):
    T = "sync"
    PHASE = Phase.USER
    RESULT = PageResult
    channel: int = _wire_field(_id)
    after: int = _wire_field(_seq)
    limit: int = _wire_field(_page_limit)


@frozen
class HistoryRequest(_Request):
    T = "history"
    PHASE = Phase.USER
    RESULT = PageResult
    channel: int = _wire_field(_id)
    before: int = _wire_field(_seq)
    limit: int = _wire_field(_page_limit)


@frozen
class ReadRequest(_Request):
    T = "read"
    PHASE = Phase.USER
    channel: int = _wire_field(_id)
    seq: int = _wire_field(_seq)


@frozen
class TypingRequest(_Request):
    T = "typing"
    PHASE = Phase.USER
    channel: int = _wire_field(_id)


@frozen
class PresenceRequest(_Request):
    T = "presence"
    PHASE = Phase.USER
    RESULT = PresenceResult
    users: frozenset[int] = _wire_field(_presence_users, sorted_ids)


@frozen
class PushRequest(_Request):
    """Set this device's push target, or remove it (`target` None, endpoint nil).

    Every field besides `kind` and `endpoint` is a provider field; whether the
    node supports the provider `kind` is for the push service to answer.
    """

    T = "push"
    PHASE = Phase.USER
    target: PushTarget | None

    @classmethod
    def _parse(cls, request_id: int, f: Fields, limits: Limits) -> Self:
        if "endpoint" not in f:
            raise bad("missing field 'endpoint'")
        if not f.has("endpoint"):
            return cls(request_id, None)
        endpoint = f.text("endpoint", 1, MAX_ENDPOINT_CHARS)
        kind = f.text("kind")
        if _PUSH_KIND.fullmatch(kind) is None:
            raise bad("kind must be 1..32 of a-z 0-9 _ -")
        provider = f.other(PUSH_RESERVED)
        if len(provider) > MAX_PUSH_FIELDS:
            raise bad(f"more than {MAX_PUSH_FIELDS} provider fields")
        if not all(
            type(value) is str and len(value) <= MAX_PUSH_FIELD_CHARS for value in provider.values()
        ):
            # Not naming the key: the peer chose it and it may be huge.
            raise bad(
                f"provider fields must be strings of at most {MAX_PUSH_FIELD_CHARS} characters"
            )
        return cls(request_id, PushTarget(kind, endpoint, provider.items()))

    def _frame(self) -> dict[str, Any]:
        target = {"endpoint": None} if self.target is None else self.target._wire()
        return {"t": self.T, "id": self.id, **target}


@frozen
class DevicesRequest(_Request):
    T = "devices"
    PHASE = Phase.USER
    RESULT = DevicesResult


@frozen
class RevokeRequest(_Request):
    T = "revoke"
    PHASE = Phase.USER
    device: int = _wire_field(_id)


@frozen
class LogoutRequest(_Request):
    T = "logout"
    PHASE = Phase.USER


@frozen
class BlockRequest(_Request):
    """v1.1: `user` may no longer put this user in a channel or send into their direct one."""

    T = "block"
    PHASE = Phase.USER
    user: int = _wire_field(_id)


@frozen
class UnblockRequest(_Request):
    T = "unblock"
    PHASE = Phase.USER
    user: int = _wire_field(_id)


@frozen
class BlockedRequest(_Request):
    T = "blocked"
    PHASE = Phase.USER
    RESULT = UsersResult


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
