"""The sans-IO state machine of one client connection.

The driver (a Trio task owning the WebSocket) feeds it what arrives and the
outcomes of the requests it dispatched; the session answers with typed
outputs and encodes what the driver sends. It never blocks, never reads a
clock (`now` is passed in) and never does I/O, so every rule of the protocol
that depends on state is decided here, in one table, and tested without an
event loop.
"""

from __future__ import annotations

import enum

from attrs import define, field, frozen

from ._codec import unpack_frame
from ._errors import ErrorCode, FieldError, FrameError, LocalProtocolError
from ._events import ByeEvent, ByeReason, Event
from ._fields import MAX_INT63, Fields, is_int
from ._frames import encode
from ._limits import Limits
from ._replies import Err, Ok, Reply
from ._requests import REQUEST_TYPES, Phase, Request
from ._values import CloseCode


class State(enum.Enum):
    UNAUTHENTICATED = "unauthenticated"  # may register, log in, auth, ping
    AUTHENTICATING = "authenticating"  # an auth is dispatched; its outcome is awaited
    AUTHENTICATED = "authenticated"  # acts as `user`/`device`
    CLOSING = "closing"  # the server decided to close; requests are refused
    CLOSED = "closed"  # the transport is gone; input is ignored, nothing is sent


class Input(enum.Enum):
    """What can happen to a session: the columns of the transition table."""

    # A valid frame from the peer, by the phase of its request type.
    OPEN = "open"
    AUTH = "auth"
    PING = "ping"
    USER = "user"
    # An invalid frame from the peer.
    BAD_FRAME = "bad_frame"  # a map without a usable id or with an unknown t
    UNSUPPORTED = "unsupported"  # a text message, not msgpack, not a map
    TOO_BIG = "too_big"  # over max_message_bytes
    # The driver reporting.
    AUTH_OK = "auth_ok"
    AUTH_FAILED = "auth_failed"
    CLOSE = "close"  # the server decided to close, with a bye
    TRANSPORT_CLOSED = "transport_closed"


class Action(enum.Enum):
    NONE = "none"
    DISPATCH = "dispatch"
    PONG = "pong"
    REFUSE_UNAUTHENTICATED = "refuse_unauthenticated"
    REFUSE_AUTHENTICATED = "refuse_authenticated"
    REFUSE_AUTH_PENDING = "refuse_auth_pending"
    REFUSE_CLOSING = "refuse_closing"
    BAD_REQUEST = "bad_request"
    CLOSE_UNSUPPORTED = "close_unsupported"
    CLOSE_TOO_BIG = "close_too_big"
    BYE = "bye"


_PHASE_INPUT = {
    Phase.OPEN: Input.OPEN,
    Phase.AUTH: Input.AUTH,
    Phase.PING: Input.PING,
    Phase.USER: Input.USER,
}

S, I, A = State, Input, Action
_LIVE = (S.UNAUTHENTICATED, S.AUTHENTICATING, S.AUTHENTICATED)

#: The transition table: (state, input) -> (action, next state).
#: Invariants: every peer input has an entry in every state (a peer cannot
#: make the session raise); a missing driver entry is a driver bug and raises
#: LocalProtocolError. A dispatch whose request fails validation is answered
#: with `err` and does not change the state.
TRANSITIONS: dict[tuple[State, Input], tuple[Action, State]] = {
    # Before authentication: only the open requests, auth and ping.
    (S.UNAUTHENTICATED, I.OPEN): (A.DISPATCH, S.UNAUTHENTICATED),
    (S.UNAUTHENTICATED, I.AUTH): (A.DISPATCH, S.AUTHENTICATING),
    (S.UNAUTHENTICATED, I.PING): (A.PONG, S.UNAUTHENTICATED),
    (S.UNAUTHENTICATED, I.USER): (A.REFUSE_UNAUTHENTICATED, S.UNAUTHENTICATED),
    # One auth at a time, so the driver settles each before the next.
    (S.AUTHENTICATING, I.OPEN): (A.DISPATCH, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.AUTH): (A.REFUSE_AUTH_PENDING, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.PING): (A.PONG, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.USER): (A.REFUSE_UNAUTHENTICATED, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.AUTH_OK): (A.NONE, S.AUTHENTICATED),
    (S.AUTHENTICATING, I.AUTH_FAILED): (A.NONE, S.UNAUTHENTICATED),
    # A connection is one device for its whole life.
    (S.AUTHENTICATED, I.OPEN): (A.REFUSE_AUTHENTICATED, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.AUTH): (A.REFUSE_AUTHENTICATED, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.PING): (A.PONG, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.USER): (A.DISPATCH, S.AUTHENTICATED),
    # Closing: requests get `unavailable` (retry elsewhere); an auth that
    # completes now changes nothing, the connection is going away.
    (S.CLOSING, I.OPEN): (A.REFUSE_CLOSING, S.CLOSING),
    (S.CLOSING, I.AUTH): (A.REFUSE_CLOSING, S.CLOSING),
    (S.CLOSING, I.PING): (A.REFUSE_CLOSING, S.CLOSING),
    (S.CLOSING, I.USER): (A.REFUSE_CLOSING, S.CLOSING),
    (S.CLOSING, I.AUTH_OK): (A.NONE, S.CLOSING),
    (S.CLOSING, I.AUTH_FAILED): (A.NONE, S.CLOSING),
    (S.CLOSING, I.CLOSE): (A.NONE, S.CLOSING),
    # Closed: whatever still arrives is dropped.
    **{(S.CLOSED, i): (A.NONE, S.CLOSED) for i in I},
    # Invalid frames are answered alike in every state that still listens.
    **{(s, I.BAD_FRAME): (A.BAD_REQUEST, s) for s in (*_LIVE, S.CLOSING)},
    **{(s, I.UNSUPPORTED): (A.CLOSE_UNSUPPORTED, S.CLOSING) for s in (*_LIVE, S.CLOSING)},
    **{(s, I.TOO_BIG): (A.CLOSE_TOO_BIG, S.CLOSING) for s in (*_LIVE, S.CLOSING)},
    **{(s, I.CLOSE): (A.BYE, S.CLOSING) for s in _LIVE},
    **{(s, I.TRANSPORT_CLOSED): (A.NONE, S.CLOSED) for s in (*_LIVE, S.CLOSING)},
}
del S, I, A


@frozen
class Dispatch:
    """A valid request for the driver to carry out and answer."""

    request: Request


@frozen
class Close:
    """Close the WebSocket with this code, after sending what came before."""

    code: CloseCode
    reason: str


Output = Dispatch | Ok | Err | ByeEvent | Close


@frozen
class _Received:
    """What the session made of one message from the peer."""

    request_id: int | None = None
    kind: type[Request] | None = None
    fields: Fields | None = None
    reason: str = ""  # for the err of an invalid frame


@define
class ProtocolSession:
    """One client connection's protocol state.

    `receive_bytes`/`receive_text` turn each WebSocket message into outputs,
    to be handled in order: `Dispatch` goes to a handler, whose reply comes
    back through `send`; `Ok`, `Err` and `ByeEvent` are to be encoded with `send`
    and written; `Close` ends the connection after everything before it.
    """

    # Starts as the time the connection was accepted, so a peer that never
    # sends anything is idle from the start.
    _last_activity: float = field(alias="now")
    _limits: Limits = field(factory=Limits, alias="limits")
    _state: State = field(init=False, default=State.UNAUTHENTICATED)
    _user: int | None = field(init=False, default=None)
    _device: int | None = field(init=False, default=None)

    @property
    def limits(self) -> Limits:
        """The limits this connection was accepted under; fixed for its life."""
        return self._limits

    @property
    def state(self) -> State:
        return self._state

    @property
    def user(self) -> int | None:
        """The authenticated user; None before authentication."""
        return self._user

    @property
    def device(self) -> int | None:
        return self._device

    @property
    def last_activity(self) -> float:
        """When the peer last sent any frame (or connected): the idle clock."""
        return self._last_activity

    # -- from the peer ---------------------------------------------------------

    def receive_bytes(self, data: bytes, now: float) -> list[Output]:
        """One binary WebSocket message from the peer."""
        self._touch(now)
        if len(data) > self._limits.max_message_bytes:
            return self._receive(Input.TOO_BIG, _Received())
        try:
            raw = unpack_frame(data)
        except FrameError as exc:
            return self._receive(Input.UNSUPPORTED, _Received(reason=str(exc)))
        request_id = raw.get("id")
        if not (is_int(request_id) and 0 <= request_id <= MAX_INT63):
            return self._receive(
                Input.BAD_FRAME, _Received(reason="missing or invalid request id")
            )
        t = raw.get("t")
        kind = REQUEST_TYPES.get(t) if type(t) is str else None
        if kind is None:
            # Not echoing t: it may be a megabyte long.
            return self._receive(
                Input.BAD_FRAME, _Received(request_id, reason="unknown request type")
            )
        return self._receive(
            _PHASE_INPUT[kind.PHASE], _Received(request_id, kind, Fields(raw))
        )

    def receive_text(self, data: str, now: float) -> list[Output]:
        """One text WebSocket message: never valid, frames are binary."""
        self._touch(now)
        return self._receive(
            Input.UNSUPPORTED, _Received(reason="frames must be binary messages")
        )

    # -- from the driver -------------------------------------------------------

    def authenticated(self, user: int, device: int) -> None:
        """The dispatched auth succeeded: the connection now acts as `device`.

        In CLOSING this changes nothing; the connection is going away.
        """
        self._report(Input.AUTH_OK)
        if self._state is State.AUTHENTICATED:
            self._user, self._device = user, device

    def auth_rejected(self) -> None:
        """The dispatched auth failed (bad token, store unavailable, ...)."""
        self._report(Input.AUTH_FAILED)

    def closing(self, reason: ByeReason, retry: int | None = None) -> list[Output]:
        """The server ends this connection: [ByeEvent, Close], or [] if already ending.

        `retry` (ms) tells the client how long to wait before reconnecting.
        """
        if self._report(Input.CLOSE) is not Action.BYE:
            return []
        return [ByeEvent(reason, retry), Close(reason.close_code, reason.value)]

    def closed(self) -> None:
        """The WebSocket is closed, by either side; nothing more can be sent."""
        self._report(Input.TRANSPORT_CLOSED)

    def send(self, frame: Reply | Event) -> bytes | None:
        """The bytes to write for `frame`; None once the connection is CLOSED.

        Replies may go out in any state before CLOSED, since a request
        dispatched earlier still deserves its answer. Events other than
        `bye` exist only for an authenticated device; a `bye` only after
        `closing` produced it.
        """
        if self._state is State.CLOSED:
            return None
        if isinstance(frame, ByeEvent):
            if self._state is not State.CLOSING:
                raise LocalProtocolError("a bye is sent by closing(), not send()")
        elif not isinstance(frame, Ok | Err) and self._user is None:
            raise LocalProtocolError(f"{frame.T!r} event for a connection that never authenticated")
        return encode(frame)

    # -- the machine -----------------------------------------------------------

    def _touch(self, now: float) -> None:
        # Any frame counts as activity, even one we refuse.
        self._last_activity = max(self._last_activity, now)

    def _lookup(self, trigger: Input) -> tuple[Action, State]:
        try:
            return TRANSITIONS[self._state, trigger]
        except KeyError:
            raise LocalProtocolError(
                f"{trigger.value} is not possible in state {self._state.value}"
            ) from None

    def _report(self, trigger: Input) -> Action:
        action, self._state = self._lookup(trigger)
        return action

    def _receive(self, trigger: Input, received: _Received) -> list[Output]:
        action, next_state = self._lookup(trigger)
        outputs = self._answer(action, received)
        # A request refused at validation leaves the state as it was.
        if action is not Action.DISPATCH or isinstance(outputs[0], Dispatch):
            self._state = next_state
        return outputs

    def _answer(self, action: Action, received: _Received) -> list[Output]:
        request_id = received.request_id
        match action:
            case Action.DISPATCH:
                return [self._dispatch(received)]
            case Action.PONG:
                assert request_id is not None
                return [Ok(request_id)]
            case Action.REFUSE_UNAUTHENTICATED:
                return [Err(request_id, ErrorCode.UNAUTHENTICATED)]
            case Action.REFUSE_AUTHENTICATED:
                return [Err(request_id, ErrorCode.BAD_REQUEST, "already authenticated")]
            case Action.REFUSE_AUTH_PENDING:
                return [Err(request_id, ErrorCode.BAD_REQUEST, "authentication in progress")]
            case Action.REFUSE_CLOSING:
                return [Err(request_id, ErrorCode.UNAVAILABLE, "connection is closing")]
            case Action.BAD_REQUEST:
                return [Err(request_id, ErrorCode.BAD_REQUEST, received.reason)]
            case Action.CLOSE_UNSUPPORTED:
                return [
                    Err(None, ErrorCode.BAD_REQUEST, received.reason),
                    Close(CloseCode.UNSUPPORTED_DATA, "unsupported data"),
                ]
            case Action.CLOSE_TOO_BIG:
                return [Close(CloseCode.MESSAGE_TOO_BIG, "message too big")]
            case Action.NONE | Action.BYE:
                # BYE follows only the driver's closing(), never a frame.
                return []

    def _dispatch(self, received: _Received) -> Dispatch | Err:
        assert (
            received.request_id is not None
            and received.kind is not None
            and received.fields is not None
        )
        try:
            request = received.kind._parse(received.request_id, received.fields, self._limits)
        except FieldError as exc:
            return Err(received.request_id, exc.code, exc.msg)
        # No send bucket here: the rate is the device's, over all of its
        # connections, and the driver checks the grant its user's actor gave.
        return Dispatch(request)
