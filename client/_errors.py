"""What can go wrong talking to a chat node, as exceptions an app can catch.

The codes are the protocol's (`ErrorCode`); a code added to the protocol after
this client was written still surfaces, as a plain `ChatError` carrying the
code's string, instead of breaking the client.
"""

from __future__ import annotations

from protocol import ErrorCode


class ChatError(Exception):
    """The node answered a request with `err`.

    `retry` is the server's hint in milliseconds (set with `rate_limited`).
    """

    code: ErrorCode | str

    def __init__(self, code: ErrorCode | str, msg: str, retry: int | None = None) -> None:
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


class Blocked(ChatError):
    """The other user blocks the caller (v1.1): no channel with them, no sends into it."""


# ErrorCode is a StrEnum, so a code's plain string finds its class too.
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
    ErrorCode.BLOCKED: Blocked,
}


def error_for(code: ErrorCode | str, msg: str, retry: int | None = None) -> ChatError:
    """The exception for an `err` reply: its subclass, or `ChatError` for a code this client predates."""
    return _BY_CODE.get(code, ChatError)(code, msg, retry)


class ConnectionLost(Exception):
    """The connection ended before the request was answered.

    Whether the node acted on the request is unknown: `ChatClient` retries the
    requests that are safe to repeat and raises this for the others.
    """


class ProtocolError(ConnectionLost):
    """The node sent something the protocol does not allow, so the client dropped the connection.

    Every request in flight on that connection ends with this. It is a
    `ConnectionLost` because that is what it is to a caller: `ChatClient`
    reconnects, and retries what is safe to repeat, as after any other loss.
    """


class ClientClosed(ConnectionLost):
    """The `ChatClient` has stopped for good (closed, logged out, or its token was refused).

    `__cause__` holds the `ChatError` when the node refused the credentials.
    """
