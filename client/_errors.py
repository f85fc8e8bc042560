"""What can go wrong talking to a chat node, as exceptions an app can catch.

Server errors keep the wire's code string so that a code added to the protocol
later still surfaces (as a plain `ChatError`) instead of breaking the client.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Every error code of protocol v1."""

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


class ChatError(Exception):
    """The node answered a request with `err`.

    `retry` is the server's hint in milliseconds (set with `rate_limited`).
    """

    code: str

    def __init__(self, code: str, msg: str, retry: int | None = None) -> None:
        super().__init__(f"{code}: {msg}" if msg else code)
        self.code = code
        self.msg = msg
        self.retry = retry


class BadRequest(ChatError):
    """The request was malformed: a client bug, not a condition to retry."""


class Unauthenticated(ChatError):
    """A request that needs `auth` was sent before it."""


class BadCredentials(ChatError):
    """`login` with a wrong username or password."""


class BadToken(ChatError):
    """`auth` with a token that does not exist or was revoked."""


class UsernameTaken(ChatError):
    """`register` with a username another account holds."""


class NotFound(ChatError):
    """A user, device or channel named in the request does not exist."""


class NotMember(ChatError):
    """The caller is not a member of the channel."""


class NotGroup(ChatError):
    """`invite`/`leave` on a direct channel."""


class TooManyMembers(ChatError):
    """The group would exceed the member limit."""


class TooLong(ChatError):
    """The message body is over the limit."""


class RateLimited(ChatError):
    """The device sends faster than its token bucket allows; wait `retry` ms."""


class Unavailable(ChatError):
    """Transient trouble on the node's side; retrying later may succeed."""


class Internal(ChatError):
    """The node failed in a way it did not expect."""


_BY_CODE: dict[str, type[ChatError]] = {
    ErrorCode.BAD_REQUEST: BadRequest,
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.BAD_CREDENTIALS: BadCredentials,
    ErrorCode.BAD_TOKEN: BadToken,
    ErrorCode.USERNAME_TAKEN: UsernameTaken,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.NOT_MEMBER: NotMember,
    ErrorCode.NOT_GROUP: NotGroup,
    ErrorCode.TOO_MANY_MEMBERS: TooManyMembers,
    ErrorCode.TOO_LONG: TooLong,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.INTERNAL: Internal,
}


def error_for(code: str, msg: str, retry: int | None = None) -> ChatError:
    """The exception for an `err` reply: its subclass, or `ChatError` for a code this client predates."""
    return _BY_CODE.get(code, ChatError)(code, msg, retry)


class ProtocolError(Exception):
    """The node sent something protocol v1 does not allow; the connection is dropped."""


class ConnectionLost(Exception):
    """The connection ended before the request was answered.

    Whether the node acted on the request is unknown: `ChatClient` retries the
    requests that are safe to repeat and raises this for the others.
    """


class ClientClosed(ConnectionLost):
    """The `ChatClient` has stopped for good (closed, logged out, or its token was refused).

    `__cause__` holds the `ChatError` when the node refused the credentials.
    """
