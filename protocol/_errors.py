"""Error codes of the wire and the exceptions of this package."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Every `code` an `err` reply may carry.

    A StrEnum, so a code equals its wire string: a client that decodes
    leniently keeps a code newer than itself as that plain string, and code
    comparing codes works the same for both.
    """

    BAD_REQUEST = "bad_request"
    UNAUTHENTICATED = "unauthenticated"
    BAD_CREDENTIALS = "bad_credentials"
    BAD_TOKEN = "bad_token"
    USERNAME_TAKEN = "username_taken"
    NOT_FOUND = "not_found"
    NOT_MEMBER = "not_member"
    NOT_GROUP = "not_group"
    TOO_MANY_MEMBERS = "too_many_members"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    BLOCKED = "blocked"  # v1.1


#: The `msg` of an `err` whose sender had nothing more specific to say.
DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "malformed request",
    ErrorCode.UNAUTHENTICATED: "authenticate first",
    ErrorCode.BAD_CREDENTIALS: "wrong username or password",
    ErrorCode.BAD_TOKEN: "unknown or revoked token",
    ErrorCode.USERNAME_TAKEN: "username is taken",
    ErrorCode.NOT_FOUND: "no such thing",
    ErrorCode.NOT_MEMBER: "not a member of this channel",
    ErrorCode.NOT_GROUP: "not a group channel",
    ErrorCode.TOO_MANY_MEMBERS: "too many members",
    ErrorCode.TOO_LONG: "message body too long",
    ErrorCode.RATE_LIMITED: "sending too fast",
    ErrorCode.UNAVAILABLE: "temporarily unavailable, retry",
    ErrorCode.INTERNAL: "internal error",
    ErrorCode.BLOCKED: "not allowed by that user",
}


class FrameError(Exception):
    """Bytes that are not a frame of this protocol at all.

    On the server this ends the connection with close code 1003; a client
    decoding server frames gets it for anything it cannot trust.
    """


class FieldError(Exception):
    """A frame that is well-formed msgpack but not a valid request.

    Carries the `err` code to answer with; the connection stays open.
    """

    def __init__(self, code: ErrorCode, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class LocalProtocolError(Exception):
    """The driver asked the session for something its state does not allow.

    This is a bug in the code around the session, never the peer's doing.
    """
