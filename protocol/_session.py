"""The sans-IO state machine of one client connection, and its outbound queue.

The driver (the Trio code that owns the WebSocket) feeds it what arrives,
the replies to the requests it carried out, the events meant for the device
and the clock; the session decides everything that depends on the
connection's state, and queues every frame the device is to get, in order
and bounded in bytes, for the driver's writer to take (`next_output`). It
never blocks, never reads a clock (`now` is passed in) and never does I/O, so
every rule of a connection's life is here, in one transition table, and is
tested without an event loop.

One vocabulary for the end of a connection:
- it *closes* when the server decides so: with a `bye` for a `ByeReason`, or,
  when the peer broke the protocol, with only a close frame for its
  `Violation`. The session queues them; the driver has the close grace to
  get them through;
- it is *aborted* when the grace has run out (the peer does not read, or
  does not answer the close): the driver cuts the transport mid-frame if it
  must, without a handshake;
- it is *closed* once the transport is gone, whoever ended it.
"""

from __future__ import annotations

import enum
from collections import deque

from attrs import define, field, frozen

from ._codec import Bounds, unpack_frame
from ._errors import ErrorCode, FieldError, FrameError, LocalProtocolError
from ._events import ByeEvent, ByeReason
from ._fields import MAX_INT63, Fields, is_int
from ._frames import encode
from ._limits import Limits
from ._replies import AuthResult, Err, Ok
from ._requests import REQUEST_TYPES, AuthRequest, Phase, Request
from ._values import CloseCode

#: Seconds a closing connection has to get its last frames and the close
#: handshake through before it is aborted.
CLOSE_GRACE = 2.0


class Violation(enum.Enum):
    """How a peer broke the protocol; the connection closes without a `bye`.

    The value is the close frame's reason.
    """

    UNSUPPORTED_DATA = "unsupported data"  # not a frame: text, not msgpack, not a map
    MESSAGE_TOO_BIG = "message too big"  # over the size limit of the connection's state
    AUTH_TIMEOUT = "auth timeout"  # no successful `auth` within `auth_timeout` of connecting

    @property
    def close_code(self) -> CloseCode:
        return _VIOLATION_CODES[self]


_VIOLATION_CODES = {
    Violation.UNSUPPORTED_DATA: CloseCode.UNSUPPORTED_DATA,
    Violation.MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
    Violation.AUTH_TIMEOUT: CloseCode.POLICY_VIOLATION,
}

#: Why a connection ends: told with `bye`, or a violation told by the close code alone.
Ending = ByeReason | Violation


class State(enum.Enum):
    UNAUTHENTICATED = "unauthenticated"  # may register, log in, auth, ping
    AUTHENTICATING = "authenticating"  # an auth is dispatched; its outcome is awaited
    AUTHENTICATED = "authenticated"  # acts as `user`/`device`
    DRAINING = "draining"  # the node stops: new requests refused, those in flight answered, then `bye`
    CLOSING = "closing"  # `bye` and/or the close are queued; nothing more is read or queued
    CLOSED = "closed"  # the transport is gone (or was aborted); nothing more is sent


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
    TOO_BIG = "too_big"  # over max_message_bytes (max_unauthenticated_bytes before auth)
    # An event for the device (`send_event`).
    EVENT = "event"
    # The driver reporting.
    AUTH_OK = "auth_ok"  # the answer to the auth in flight is `ok`
    AUTH_FAILED = "auth_failed"  # ... is `err`
    DRAIN = "drain"  # close(DRAINING)
    REVOKE = "revoke"  # close(REVOKED): the device's token is gone
    TRANSPORT_CLOSED = "transport_closed"
    # The session's own findings.
    SETTLED = "settled"  # no request is in flight any more
    OVERFLOW = "overflow"  # queuing a frame would pass max_outbound_bytes: a slow consumer
    # The clock (`tick`).
    IDLE = "idle"  # nothing from the peer, and nothing in flight, for idle_timeout
    AUTH_DEADLINE = "auth_deadline"  # auth_timeout after connecting, not authenticated
    CLOSE_DEADLINE = "close_deadline"  # the close grace ran out


class Action(enum.Enum):
    NONE = "none"
    DISPATCH = "dispatch"
    PONG = "pong"
    REFUSE_UNAUTHENTICATED = "refuse_unauthenticated"
    REFUSE_AUTHENTICATED = "refuse_authenticated"
    REFUSE_AUTH_PENDING = "refuse_auth_pending"
    REFUSE_DRAINING = "refuse_draining"
    BAD_REQUEST = "bad_request"
    QUEUE_EVENT = "queue_event"
    HOLD_EVENT = "hold_event"  # until the auth's `ok` is queued: the device learns who it is first
    AUTHENTICATE = "authenticate"  # queue the auth's `ok`, then the events held meanwhile
    REJECT_AUTH = "reject_auth"  # queue the auth's `err`; the held events go
    DRAIN = "drain"  # say `bye` once nothing is in flight (at once if nothing is)
    BYE = "bye"  # `bye`, then close, after everything queued
    BYE_NOW = "bye_now"  # drop what is queued (the device recovers with `sync`), then `bye` and close
    CLOSE_UNSUPPORTED = "close_unsupported"  # an `err` with a nil id, then close 1003
    CLOSE_TOO_BIG = "close_too_big"
    CLOSE_AUTH_TIMEOUT = "close_auth_timeout"
    ABORT = "abort"  # forget everything queued: nothing more is written


_PHASE_INPUT = {
    Phase.OPEN: Input.OPEN,
    Phase.AUTH: Input.AUTH,
    Phase.PING: Input.PING,
    Phase.USER: Input.USER,
}

#: The `bye` each closing input says.
_BYE_REASONS = {
    Input.DRAIN: ByeReason.DRAINING,
    Input.SETTLED: ByeReason.DRAINING,
    Input.REVOKE: ByeReason.REVOKED,
    Input.OVERFLOW: ByeReason.SLOW_CONSUMER,
    Input.IDLE: ByeReason.IDLE,
}

#: What `close(reason)` feeds the table.
_CLOSE_INPUTS = {
    ByeReason.DRAINING: Input.DRAIN,
    ByeReason.REVOKED: Input.REVOKE,
    ByeReason.SLOW_CONSUMER: Input.OVERFLOW,
    ByeReason.IDLE: Input.IDLE,
}

S, I, A = State, Input, Action
_LIVE = (S.UNAUTHENTICATED, S.AUTHENTICATING, S.AUTHENTICATED, S.DRAINING)
_PEER_INPUTS = (I.OPEN, I.AUTH, I.PING, I.USER, I.BAD_FRAME, I.UNSUPPORTED, I.TOO_BIG)
#: Inputs that only follow an auth the session dispatched.
AUTH_OUTCOMES = (I.AUTH_OK, I.AUTH_FAILED)

#: The transition table: (state, input) -> (action, next state).
#: Invariants: every input but an auth's outcome has an entry in every
#: state, so neither a peer, nor the clock, nor another actor telling the
#: session something at any moment can make it raise; an auth's outcome
#: without an auth in flight is a driver bug and raises LocalProtocolError.
#: A dispatch whose request fails validation is answered with `err` and does
#: not change the state.
TRANSITIONS: dict[tuple[State, Input], tuple[Action, State]] = {
    # Before authentication: only the open requests, auth and ping.
    (S.UNAUTHENTICATED, I.OPEN): (A.DISPATCH, S.UNAUTHENTICATED),
    (S.UNAUTHENTICATED, I.AUTH): (A.DISPATCH, S.AUTHENTICATING),
    (S.UNAUTHENTICATED, I.PING): (A.PONG, S.UNAUTHENTICATED),
    (S.UNAUTHENTICATED, I.USER): (A.REFUSE_UNAUTHENTICATED, S.UNAUTHENTICATED),
    # An event here is a late delivery for an attach that timed out.
    (S.UNAUTHENTICATED, I.EVENT): (A.NONE, S.UNAUTHENTICATED),
    (S.UNAUTHENTICATED, I.DRAIN): (A.BYE, S.CLOSING),
    (S.UNAUTHENTICATED, I.AUTH_DEADLINE): (A.CLOSE_AUTH_TIMEOUT, S.CLOSING),
    # One auth at a time, so the driver settles each before the next.
    (S.AUTHENTICATING, I.OPEN): (A.DISPATCH, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.AUTH): (A.REFUSE_AUTH_PENDING, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.PING): (A.PONG, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.USER): (A.REFUSE_UNAUTHENTICATED, S.AUTHENTICATING),
    # The user's actor has the device (the driver attaches it before its
    # `ok`) and may send it events before that `ok` is queued.
    (S.AUTHENTICATING, I.EVENT): (A.HOLD_EVENT, S.AUTHENTICATING),
    (S.AUTHENTICATING, I.AUTH_OK): (A.AUTHENTICATE, S.AUTHENTICATED),
    (S.AUTHENTICATING, I.AUTH_FAILED): (A.REJECT_AUTH, S.UNAUTHENTICATED),
    (S.AUTHENTICATING, I.DRAIN): (A.BYE, S.CLOSING),
    (S.AUTHENTICATING, I.AUTH_DEADLINE): (A.CLOSE_AUTH_TIMEOUT, S.CLOSING),
    # A connection is one device for its whole life.
    (S.AUTHENTICATED, I.OPEN): (A.REFUSE_AUTHENTICATED, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.AUTH): (A.REFUSE_AUTHENTICATED, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.PING): (A.PONG, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.USER): (A.DISPATCH, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.EVENT): (A.QUEUE_EVENT, S.AUTHENTICATED),
    (S.AUTHENTICATED, I.DRAIN): (A.DRAIN, S.DRAINING),
    (S.AUTHENTICATED, I.AUTH_DEADLINE): (A.NONE, S.AUTHENTICATED),
    # Draining: accepted sends get their `ok` before the `bye`; new requests
    # get `unavailable` (retry on another node).
    **{(S.DRAINING, i): (A.REFUSE_DRAINING, S.DRAINING) for i in (I.OPEN, I.AUTH, I.USER)},
    (S.DRAINING, I.PING): (A.PONG, S.DRAINING),
    (S.DRAINING, I.EVENT): (A.QUEUE_EVENT, S.DRAINING),
    (S.DRAINING, I.DRAIN): (A.NONE, S.DRAINING),
    (S.DRAINING, I.SETTLED): (A.BYE, S.CLOSING),
    (S.DRAINING, I.AUTH_DEADLINE): (A.NONE, S.DRAINING),
    # Closing: the `bye` and the close are queued and nothing goes after
    # them, so nothing more is read, answered or queued.
    **{(S.CLOSING, i): (A.NONE, S.CLOSING) for i in I if i is not I.CLOSE_DEADLINE},
    (S.CLOSING, I.CLOSE_DEADLINE): (A.ABORT, S.CLOSED),
    (S.CLOSING, I.TRANSPORT_CLOSED): (A.ABORT, S.CLOSED),
    # Closed: whatever still arrives is dropped.
    **{(S.CLOSED, i): (A.NONE, S.CLOSED) for i in I},
    # Alike in every live state.
    **{(s, I.BAD_FRAME): (A.BAD_REQUEST, s) for s in _LIVE},
    **{(s, I.UNSUPPORTED): (A.CLOSE_UNSUPPORTED, S.CLOSING) for s in _LIVE},
    **{(s, I.TOO_BIG): (A.CLOSE_TOO_BIG, S.CLOSING) for s in _LIVE},
    **{(s, I.REVOKE): (A.BYE, S.CLOSING) for s in _LIVE},
    **{(s, I.OVERFLOW): (A.BYE_NOW, S.CLOSING) for s in _LIVE},
    **{(s, I.IDLE): (A.BYE_NOW, S.CLOSING) for s in _LIVE},
    # Outside DRAINING nothing waits for the last answer.
    **{(s, I.SETTLED): (A.NONE, s) for s in _LIVE if s is not S.DRAINING},
    # The grace runs only while closing.
    **{(s, I.CLOSE_DEADLINE): (A.NONE, s) for s in _LIVE},
    **{(s, I.TRANSPORT_CLOSED): (A.ABORT, S.CLOSED) for s in _LIVE},
}
del S, I, A


@frozen
class Dispatch:
    """A valid request for the driver to carry out and `answer`."""

    request: Request


@frozen
class Close:
    """Close the WebSocket, after everything queued before it, because of `why`."""

    why: Ending

    @property
    def code(self) -> CloseCode:
        return self.why.close_code

    @property
    def reason(self) -> str:
        """The close frame's reason text."""
        return self.why.value


Output = Dispatch | Ok | Err | Close


@frozen
class _Received:
    """What the session made of one message from the peer."""

    request_id: int | None = None
    kind: type[Request] | None = None
    fields: Fields | None = None
    reason: str = ""  # for the err of an invalid frame


@frozen
class _Step:
    """What the action of one transition works on; most actions need none of it."""

    received: _Received = _Received()
    now: float = 0.0
    reply: Ok | Err | None = None
    event: bytes = b""


_NOTHING = _Step()


@define
class ProtocolSession:
    """One client connection's protocol state and outbound queue.

    In: `receive_bytes`/`receive_text` for each WebSocket message (the
    driver carries out the `Dispatch`es they return and gives each request's
    reply to `answer`); `send_event` for an event, encoded once for every
    device it goes to; `close` when the node ends the connection; `tick`
    for the clock; `closed` when the transport is gone.

    Out: `next_output` hands the writer the next frame (bytes) or `Close`;
    `take_ending` tells the driver, once, why the connection is ending;
    `state` CLOSED after a `tick` means abort now.

    Invariant: the bytes queued and not yet written (the frame the writer
    took last counts until it takes the next) stay within
    `limits.max_outbound_bytes`, except that a frame is always taken into an
    empty queue and the `bye` always joins what is left; nothing is queued
    after the `Close`.
    """

    # The time the connection was accepted: the auth deadline runs from it,
    # and a peer that never sends anything is idle from the start.
    _connected: float = field(alias="now")
    _limits: Limits = field(factory=Limits, alias="limits")
    _close_grace: float = field(default=CLOSE_GRACE, alias="close_grace")
    _state: State = field(init=False, default=State.UNAUTHENTICATED)
    _user: int | None = field(init=False, default=None)
    _device: int | None = field(init=False, default=None)
    _bounds: Bounds = field(init=False)
    _last_activity: float = field(init=False)
    _in_flight: int = field(init=False, default=0)  # dispatched, not yet answered
    _drain_retry: int | None = field(init=False, default=None)
    _close_by: float | None = field(init=False, default=None)
    _ending: Ending | None = field(init=False, default=None)
    _ending_taken: bool = field(init=False, default=False)
    # Made on first use: most devices are idle most of the time.
    _outbox: deque[bytes | Close] | None = field(init=False, default=None)
    _held: list[bytes] | None = field(init=False, default=None)
    _queued: int = field(init=False, default=0)  # bytes in _outbox and _held, and in the frame being written
    _writing: int = field(init=False, default=0)  # bytes of the frame the writer took last

    def __attrs_post_init__(self) -> None:
        self._bounds = Bounds.for_limits(self._limits)
        self._last_activity = self._connected

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
        """When the peer last sent any frame, or last had a request in flight: the idle clock."""
        return self._last_activity

    @property
    def queued_bytes(self) -> int:
        """Bytes queued for the device and not yet written."""
        return self._queued

    def has_room_for_replies(self, size: int) -> bool:
        """Whether requests whose replies may come to `size` bytes can start now.

        Replies the device asked for may fill half the queue; the other half
        is for events. So a device that reads what it asks for is never a
        slow consumer because of it, and one that does not read stops being
        read from (its requests wait) well before the cap. An empty queue
        always has room.
        """
        return not self._queued or self._queued + size <= self._limits.max_outbound_bytes // 2

    @property
    def has_output(self) -> bool:
        """Whether `next_output` has something for the writer."""
        return bool(self._outbox)

    # -- from the peer ---------------------------------------------------------

    def receive_bytes(self, data: bytes, now: float) -> list[Output]:
        """One binary WebSocket message from the peer: what it came to, in order.

        The `Dispatch`es are the driver's to carry out. The replies and the
        `Close` are queued already; they are returned so that a caller can
        see what the message was answered with.
        """
        if self._state in (State.CLOSING, State.CLOSED):
            # Every peer input is NONE there (see the table): no need to decode.
            return []
        self._touch(now)
        if len(data) > self.message_limit:
            return self._receive(Input.TOO_BIG, _Received(), now)
        try:
            raw = unpack_frame(data, bounds=self._bounds)
        except FrameError as exc:
            return self._receive(Input.UNSUPPORTED, _Received(reason=str(exc)), now)
        request_id = raw.get("id")
        if not (is_int(request_id) and 0 <= request_id <= MAX_INT63):
            return self._receive(
                Input.BAD_FRAME, _Received(reason="missing or invalid request id"), now
            )
        t = raw.get("t")
        kind = REQUEST_TYPES.get(t) if type(t) is str else None
        if kind is None:
            # Not echoing t: it may be a megabyte long.
            return self._receive(
                Input.BAD_FRAME, _Received(request_id, reason="unknown request type"), now
            )
        return self._receive(
            _PHASE_INPUT[kind.PHASE], _Received(request_id, kind, Fields(raw)), now
        )

    @property
    def message_limit(self) -> int:
        """Bytes the peer's next message may hold: fewer before `auth` succeeds.

        A driver whose transport can stop reading a message at a limit
        should set it to this, and report a message cut there with
        `receive_oversized`.
        """
        if self._user is None:
            return min(self._limits.max_message_bytes, self._limits.max_unauthenticated_bytes)
        return self._limits.max_message_bytes

    def receive_oversized(self, now: float) -> list[Output]:
        """The transport stopped reading a message at `message_limit`: as one over it."""
        if self._state in (State.CLOSING, State.CLOSED):
            return []
        self._touch(now)
        return self._receive(Input.TOO_BIG, _Received(), now)

    def receive_text(self, data: str, now: float) -> list[Output]:
        """One text WebSocket message: never valid, frames are binary."""
        if self._state in (State.CLOSING, State.CLOSED):
            return []
        self._touch(now)
        return self._receive(
            Input.UNSUPPORTED, _Received(reason="frames must be binary messages"), now
        )

    # -- from the driver -------------------------------------------------------

    def answer(self, request: Request, reply: Ok | Err) -> None:
        """Queue the reply to a request this session dispatched.

        An `auth`'s reply is its outcome: `ok` (with the AuthResult) makes the
        connection that device's, `err` leaves it unauthenticated. Replies
        go out in every state until the `bye` is queued: a request dispatched
        earlier still deserves its answer.
        """
        if reply.id != request.id or self._in_flight == 0:
            raise LocalProtocolError(f"no request {request.id} in flight for this reply")
        self._in_flight -= 1
        if isinstance(request, AuthRequest):
            if isinstance(reply, Ok) and not isinstance(reply.result, AuthResult):
                raise LocalProtocolError("an auth's ok carries an AuthResult")
            self._input(Input.AUTH_OK if isinstance(reply, Ok) else Input.AUTH_FAILED, _Step(reply=reply))
        else:
            self._queue(encode(reply))
        if self._in_flight == 0:
            self._input(Input.SETTLED)

    def send_event(self, data: bytes) -> None:
        """Queue an event (its bytes, shared by every device it goes to), if this connection may have it.

        Events exist only for an authenticated device: in AUTHENTICATING they
        wait for the auth's `ok`; before, and once closing, they are dropped.
        """
        self._input(Input.EVENT, _Step(event=data))

    def close(self, reason: ByeReason, retry: int | None = None) -> None:
        """End the connection with `bye` `reason`; the table says when.

        DRAINING waits for the requests in flight; `retry` (ms) tells the
        client how long to wait before reconnecting. Slow consumers and idle
        devices the session finds itself.
        """
        if reason is ByeReason.DRAINING:
            self._drain_retry = retry
        self._input(_CLOSE_INPUTS[reason])

    def tick(self, now: float) -> None:
        """The clock: idle devices, the auth deadline and the close grace.

        The driver ticks every session every few seconds; CLOSED afterwards
        means the close grace ran out: abort the connection.
        """
        if self._state is State.CLOSING and self._close_by is None:
            # The grace runs from the first tick that finds the session
            # closing: the close may have been decided where no clock was.
            self._close_by = now + self._close_grace
        due = self._due(now)
        if due is not None:
            self._input(due, _Step(now=now))

    def closed(self) -> None:
        """The WebSocket is closed, by either side; nothing more can be sent."""
        self._input(Input.TRANSPORT_CLOSED)

    def next_output(self) -> bytes | Close | None:
        """The next thing to write, or None: the writer then has nothing to do.

        Taking one means the one taken before is written.
        """
        self._queued -= self._writing
        self._writing = 0
        if not self._outbox:
            self._outbox = None
            return None
        item = self._outbox.popleft()
        if isinstance(item, bytes):
            self._writing = len(item)
        return item

    def take_ending(self) -> Ending | None:
        """Why the connection is ending, the first time it is asked after that was decided."""
        if self._ending is None or self._ending_taken:
            return None
        self._ending_taken = True
        return self._ending

    # -- the machine -----------------------------------------------------------

    def _touch(self, now: float) -> None:
        # Any frame counts as activity, even one we refuse.
        self._last_activity = max(self._last_activity, now)

    def _due(self, now: float) -> Input | None:
        """The clock input due now, if any (the table decides what it means in this state)."""
        if self._close_by is not None:
            return Input.CLOSE_DEADLINE if now >= self._close_by else None
        if self._user is None and now >= self._connected + self._limits.auth_timeout:
            return Input.AUTH_DEADLINE
        if self._in_flight:
            # Waiting on us is not silence: a device whose request is queued
            # behind a busy store must not be cut off for it.
            self._last_activity = max(self._last_activity, now)
            return None
        if now >= self._last_activity + self._limits.idle_timeout:
            return Input.IDLE
        return None

    def _lookup(self, trigger: Input) -> tuple[Action, State]:
        try:
            return TRANSITIONS[self._state, trigger]
        except KeyError:
            raise LocalProtocolError(
                f"{trigger.value} is not possible in state {self._state.value}"
            ) from None

    def _input(self, trigger: Input, step: _Step = _NOTHING) -> list[Output]:
        # The state moves before the action runs: an action may feed the
        # table again (the queue overflowing, the last answer settling a
        # drain), and that input must see the new state.
        action, next_state = self._lookup(trigger)
        before, self._state = self._state, next_state
        outputs = self._act(action, trigger, step)
        refused = action is Action.DISPATCH and not isinstance(outputs[0], Dispatch)
        if refused and self._state is next_state:
            self._state = before  # a request refused at validation leaves the state as it was
        return outputs

    def _receive(self, trigger: Input, received: _Received, now: float) -> list[Output]:
        return self._input(trigger, _Step(received=received, now=now))

    def _act(self, action: Action, trigger: Input, step: _Step) -> list[Output]:
        request_id = step.received.request_id
        match action:
            case Action.DISPATCH:
                dispatched = self._dispatch(step.received)
                if isinstance(dispatched, Dispatch):
                    self._in_flight += 1
                    return [dispatched]
                return self._replied(dispatched)
            case Action.PONG:
                assert request_id is not None
                return self._replied(Ok(request_id))
            case Action.REFUSE_UNAUTHENTICATED:
                return self._replied(Err(request_id, ErrorCode.UNAUTHENTICATED))
            case Action.REFUSE_AUTHENTICATED:
                return self._replied(Err(request_id, ErrorCode.BAD_REQUEST, "already authenticated"))
            case Action.REFUSE_AUTH_PENDING:
                return self._replied(Err(request_id, ErrorCode.BAD_REQUEST, "authentication in progress"))
            case Action.REFUSE_DRAINING:
                return self._replied(Err(request_id, ErrorCode.UNAVAILABLE, "node is draining, reconnect"))
            case Action.BAD_REQUEST:
                return self._replied(Err(request_id, ErrorCode.BAD_REQUEST, step.received.reason))
            case Action.QUEUE_EVENT:
                self._queue(step.event)
            case Action.HOLD_EVENT:
                self._hold(step.event)
            case Action.AUTHENTICATE:
                assert isinstance(step.reply, Ok) and isinstance(step.reply.result, AuthResult)
                self._user, self._device = step.reply.result.user, step.reply.result.device
                self._queue(encode(step.reply))
                for event in self._release_held():
                    self._queue(event)
            case Action.REJECT_AUTH:
                assert step.reply is not None
                self._release_held()
                self._queue(encode(step.reply))
            case Action.DRAIN:
                if self._in_flight == 0:
                    self._input(Input.SETTLED)
            case Action.BYE:
                self._bye(_BYE_REASONS[trigger])
            case Action.BYE_NOW:
                self._drop_queued()
                self._bye(_BYE_REASONS[trigger])
            case Action.CLOSE_UNSUPPORTED:
                err = Err(None, ErrorCode.BAD_REQUEST, step.received.reason)
                self._queue(encode(err))
                return [err, self._close(Violation.UNSUPPORTED_DATA)]
            case Action.CLOSE_TOO_BIG:
                return [self._close(Violation.MESSAGE_TOO_BIG)]
            case Action.CLOSE_AUTH_TIMEOUT:
                self._close(Violation.AUTH_TIMEOUT)
            case Action.ABORT:
                self._drop_queued()
                self._outbox = None
            case Action.NONE:
                pass
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
        return Dispatch(request)

    # -- the outbound queue ----------------------------------------------------

    def _replied(self, reply: Ok | Err) -> list[Output]:
        self._queue(encode(reply))
        return [reply]

    def _fits(self, data: bytes) -> bool:
        """Whether `data` may join the queue; if it would pass the byte cap, the device is a slow consumer.

        Nothing joins once the close is queued (nothing after it would be
        written) or the transport is gone.
        """
        if self._ending is not None or self._state is State.CLOSED:
            return False
        if self._queued and self._queued + len(data) > self._limits.max_outbound_bytes:
            self._input(Input.OVERFLOW)
            return False
        return True

    def _queue(self, data: bytes) -> None:
        if self._fits(data):
            self._append(data)

    def _hold(self, data: bytes) -> None:
        if self._fits(data):
            if self._held is None:
                self._held = []
            self._held.append(data)
            self._queued += len(data)

    def _release_held(self) -> list[bytes]:
        held, self._held = self._held or [], None
        self._queued -= sum(len(event) for event in held)
        return held

    def _append(self, item: bytes | Close) -> None:
        if self._outbox is None:
            self._outbox = deque()
        self._outbox.append(item)
        if isinstance(item, bytes):
            self._queued += len(item)

    def _drop_queued(self) -> None:
        """Forget every frame not yet taken; the one being written stays counted."""
        self._held = None
        if self._outbox is not None:
            self._outbox.clear()
        self._queued = self._writing

    def _bye(self, reason: ByeReason) -> None:
        retry = self._drain_retry if reason is ByeReason.DRAINING else None
        self._append(encode(ByeEvent(reason, retry)))
        self._close(reason)

    def _close(self, why: Ending) -> Close:
        self._release_held()  # for an auth whose answer would now come after the close
        close = Close(why)
        self._ending = why
        self._append(close)
        return close
