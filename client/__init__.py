"""Python client library of the chat service (protocol v1, Trio).

Two layers: `Connection` is one WebSocket with a typed method per request;
`ChatClient` is the durable session on top (reconnects, cursors, re-sync,
heartbeats, presence cache, one ordered event stream). See docs/client.rst.

The wire is the `protocol` package's, the one definition the node uses too:
the values this library hands an app (messages, channel lists, results,
events, error codes) are the protocol's own, re-exported here under their
names so that an app needs one import. The requests are the protocol's as
well (`protocol.SendRequest`, ...), for code that sends them generically
through `request()`.
"""

from protocol import (
    AuthResult,
    ByeEvent,
    ByeReason,
    ChannelEvent,
    ChannelInfo,
    ChannelKind,
    DeviceInfo,
    ErrorCode,
    LoginResult,
    Message,
    NotifyLevel,
    PageResult,
    PresenceEvent,
    PushKind,
    PushTarget,
    ReceiptEvent,
    SendResult,
    TypingEvent,
    UserPresence,
)

from ._api import new_cid
from ._backoff import Backoff
from ._client import ChatClient, ClientOptions, PasswordAuth, TokenAuth
from ._connection import Connection, EventHandler, EventOverflow
from ._cursors import CursorTracker, Verdict
from ._errors import (
    BadCredentials,
    BadRequest,
    BadToken,
    Blocked,
    ChatError,
    ClientClosed,
    ConnectionLost,
    Internal,
    NotFound,
    NotGroup,
    NotMember,
    ProtocolError,
    RateLimited,
    TooLong,
    TooManyMembers,
    Unauthenticated,
    Unavailable,
    UsernameTaken,
    error_for,
)
from ._events import ClientEvent, Disconnected, Reconnected, ServerEvent
from ._register import register

__all__ = [
    "AuthResult",
    "Backoff",
    "BadCredentials",
    "BadRequest",
    "BadToken",
    "Blocked",
    "ByeEvent",
    "ByeReason",
    "ChannelEvent",
    "ChannelInfo",
    "ChannelKind",
    "ChatClient",
    "ChatError",
    "ClientClosed",
    "ClientEvent",
    "ClientOptions",
    "Connection",
    "ConnectionLost",
    "CursorTracker",
    "DeviceInfo",
    "Disconnected",
    "ErrorCode",
    "EventHandler",
    "EventOverflow",
    "Internal",
    "LoginResult",
    "Message",
    "NotFound",
    "NotGroup",
    "NotMember",
    "NotifyLevel",
    "PageResult",
    "PasswordAuth",
    "PresenceEvent",
    "ProtocolError",
    "PushKind",
    "PushTarget",
    "RateLimited",
    "ReceiptEvent",
    "Reconnected",
    "SendResult",
    "ServerEvent",
    "TokenAuth",
    "TooLong",
    "TooManyMembers",
    "TypingEvent",
    "Unauthenticated",
    "Unavailable",
    "UserPresence",
    "UsernameTaken",
    "Verdict",
    "error_for",
    "new_cid",
    "register",
]
