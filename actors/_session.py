"""DeviceSession: one WebSocket, a thin driver around the sans-IO ProtocolSession.

The protocol session decides everything: what each frame is, which state
the connection is in, what the device is sent and in which order, when the
connection closes and when it must be aborted. This driver only moves bytes
and carries out requests:
- the reader takes messages off the socket and hands them to the protocol
  session; the requests it dispatches are carried out through one table,
  `ROUTES` (auth, register, login and logout by the reader itself, one at a
  time; sends told to their channel in line, in the device's order; the
  rest in tasks, at most `MAX_IN_FLIGHT` at once and `page_reads` of them
  `sync`/`history`, which start only while the outbound queue has room for
  their replies (`has_room_for_replies`): past any of these the reader
  waits, which stops the device);
- the writer is a task that exists only while the protocol session has
  something queued (an idle device costs no task for it), and writes what
  `next_output` gives it;
- channels and users reach the device through its `SessionRef`: what they
  tell it goes to the protocol session at once, never waiting;
- the gateway ticks every session every few seconds; that clock is what
  closes idle devices, connections that never authenticated and those whose
  close did not get through in the close grace (aborted then, mid-frame if
  the peer stopped reading).

A crash here ends this connection only; the gateway logs it once.
"""

from __future__ import annotations

import enum
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import trio
from attrs import frozen
from trio_websocket import ConnectionClosed, WebSocketConnection

from runtime import ActorDead, ActorRef, AskTimeout, MailboxFull
from storage import StoreError
from protocol import (
    AckRequest,
    AuthRequest,
    BlockedRequest,
    BlockRequest,
    AuthResult,
    ByeReason,
    ChannelsRequest,
    Close,
    DevicesRequest,
    DirectRequest,
    Dispatch,
    Ending,
    Err,
    ErrorCode,
    GroupRequest,
    HistoryRequest,
    InviteRequest,
    LeaveRequest,
    LoginRequest,
    LoginResult,
    LogoutRequest,
    LookupRequest,
    NotifyRequest,
    Ok,
    PresenceRequest,
    ProtocolSession,
    PushRequest,
    ReadRequest,
    RegisterRequest,
    Request,
    Result,
    RevokeRequest,
    SendRequest,
    State,
    SyncRequest,
    TypingRequest,
    UnblockRequest,
    UserResult,
    Violation,
)

from ._accounts import Accounts
from ._admission import PeerTicket, Remote
from ._failures import RequestFailed
from ._grants import DeviceGrant
from ._handlers import Handlers
from ._mail import Attach, Bye, Detach, Outgoing, Post, PostReply
from ._security import SecurityEvent
from ._services import Services

#: Requests of one connection carried out in tasks at once. More waits, and
#: stops the reader.
MAX_IN_FLIGHT = 32

_session_numbers = itertools.count(1)

#: The security log's name for each ending an operator should hear of.
_SECURITY_EVENTS: dict[Ending, SecurityEvent] = {
    Violation.UNSUPPORTED_DATA: SecurityEvent.MALFORMED_FRAME,
    Violation.MESSAGE_TOO_BIG: SecurityEvent.OVERSIZED_FRAME,
    Violation.AUTH_TIMEOUT: SecurityEvent.AUTH_TIMEOUT,
    ByeReason.SLOW_CONSUMER: SecurityEvent.SLOW_CONSUMER,
}


class SessionRef(ActorRef):
    """A device session's address, for channels and users.

    What they tell it goes to the session at once and is never waited for:
    the session bounds its queue in bytes itself and closes as a slow
    consumer past it, so a full mailbox never exists here.
    """

    __slots__ = ("_session",)

    def __init__(self, session: DeviceSession) -> None:
        self._session = session

    @property
    def key(self) -> Hashable:
        return ("session", self._session.number)

    @property
    def alive(self) -> bool:
        return self._session.state is not State.CLOSED

    async def tell(self, message: object) -> None:
        self.tell_nowait(message)

    def tell_nowait(self, message: object) -> None:
        if not self.alive:
            raise ActorDead(self.key)
        self._session.deliver(message)

    async def ask(self, message: object, timeout: float) -> object:
        raise TypeError(f"a device session answers no asks, got {message!r}")


class Mode(enum.Enum):
    """How the session carries out one kind of request."""

    IN_LINE = "in_line"  # by the reader, before it reads on
    TOLD = "told"  # told to its channel by the reader, in the device's order; answered by a PostReply
    TASK = "task"  # in a task of its own
    PAGE_READ = "page_read"  # a task, and one of the connection's few page reads


Handler = Callable[["DeviceSession", Any], Awaitable[Result | None]]


@frozen
class Route:
    handler: Handler
    mode: Mode


class DeviceSession:
    def __init__(
        self,
        ws: WebSocketConnection,
        services: Services,
        accounts: Accounts,
        handlers: Handlers,
        *,
        peer: PeerTicket,
        remote: Remote,
        close_grace: float,
        page_reads: int,
    ) -> None:
        self._ws = ws
        # Its place in its address's counts, until `auth` succeeds.
        self._ticket = peer
        self._remote = remote
        self._services = services
        self._accounts = accounts
        self._handlers = handlers
        self._page_reads_allowed = page_reads
        self._protocol = ProtocolSession(now=trio.current_time(), limits=services.limits, close_grace=close_grace)
        _limit_messages(ws, self._protocol.message_limit)
        self.number = next(_session_numbers)
        self._ref = SessionRef(self)
        self._nursery: trio.Nursery | None = None
        self._attached: tuple[int, int] | None = None  # (user, device) the user actor delivers to
        self._writing = False
        self._running = 0  # requests being carried out in tasks
        self._page_reads = 0  # of them, `sync` and `history`
        # Set when a task's request is answered or a frame is written; made
        # only while the reader waits for room. Most sessions never wait,
        # and an Event each would cost every idle device its memory.
        self._change: trio.Event | None = None
        # The device's grant from its user's actor, from a successful `auth`:
        # the send bucket all of the device's connections spend.
        self._grant: DeviceGrant | None = None
        # Told to wait by an account throttle: nothing more is read from the
        # peer until then (see `_hold_reads`).
        self._reads_held_until = 0.0

    def __repr__(self) -> str:
        return f"<DeviceSession {self.number} user {self._protocol.user}>"

    @property
    def state(self) -> State:
        return self._protocol.state

    async def run(self, connection: trio.Nursery) -> None:
        """Serve the device until the connection ends; a crash propagates.

        `connection` is the nursery the gateway runs the connection in: the
        writer and request tasks run there beside the transport's reader,
        and the session ends by cancelling it (`_abort`), so this returns
        only by cancellation or a crash.
        """
        self._nursery = connection
        try:
            await self._read()
            # Closing, the writer's close handshake (or the close grace)
            # ends the session: cancelling now would cut the handshake and
            # lose a `bye` the peer has not read yet.
            if self._protocol.state is not State.CLOSING:
                self._abort()
            await trio.sleep_forever()
        finally:
            self._protocol.closed()
            self._detach()

    # -- inputs --------------------------------------------------------------------

    def deliver(self, message: object) -> None:
        """What a channel or a user tells the device (through its SessionRef); never waits."""
        protocol = self._protocol
        if isinstance(message, Outgoing):
            protocol.send_event(message.frame)
        elif isinstance(message, PostReply):
            request, outcome = message.request, message.outcome
            protocol.answer(request, _refusal(request, outcome) if isinstance(outcome, RequestFailed) else Ok(request.id, outcome))
        elif isinstance(message, Bye):
            protocol.close(message.reason, message.retry_ms)
        else:
            raise TypeError(f"device session got {message!r}")
        self._pump()

    def close(self, reason: ByeReason, retry_ms: int | None = None) -> None:
        """End the connection with `bye` `reason` (the node drains: DRAINING)."""
        self._protocol.close(reason, retry_ms)
        self._pump()

    def tick(self, now: float) -> None:
        """The gateway's clock: idle devices, the auth deadline, the close grace."""
        self._protocol.tick(now)
        self._pump()

    def _pump(self) -> None:
        """Act on what the protocol session decided: log an ending, write, or abort."""
        protocol = self._protocol
        if protocol.message_limit != self._ws._max_message_size:
            _limit_messages(self._ws, protocol.message_limit)
        ending = protocol.take_ending()
        if ending is not None and ending in _SECURITY_EVENTS:
            self._services.security.record(
                _SECURITY_EVENTS[ending], peer=self._peer(), user=protocol.user, device=protocol.device
            )
        if isinstance(ending, Violation):
            self._ticket.violated(trio.current_time())
        if protocol.state is State.CLOSED:
            self._abort()
        elif protocol.has_output and not self._writing and self._nursery is not None:
            self._writing = True
            self._nursery.start_soon(self._write)

    def _peer(self) -> str:
        return str(self._remote)

    def _peer_address(self) -> str:
        """The peer's address without its port: what logins and registrations are throttled by."""
        return self._remote.host

    def _abort(self) -> None:
        """End the connection now: its reader, writer and request tasks are cancelled, the socket with them."""
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    def _detach(self) -> None:
        if self._attached is None:
            return
        user, device = self._attached
        try:
            self._services.user_ref(user).tell_nowait(Detach(device, self._ref))
        except (MailboxFull, ActorDead):
            pass  # the user actor drops dead sessions on its next delivery

    # -- the two halves ------------------------------------------------------------

    async def _write(self) -> None:
        ws, protocol = self._ws, self._protocol
        try:
            while (item := protocol.next_output()) is not None:
                if isinstance(item, Close):
                    # aclose waits for the peer's close frame, which a dead
                    # peer never sends: the close grace bounds the wait.
                    await ws.aclose(int(item.code), item.reason)
                    self._abort()
                    return
                await ws.send_message(item)
                self._changed()
        except ConnectionClosed:
            self._abort()
        finally:
            self._writing = False

    async def _read(self) -> None:
        ws, protocol = self._ws, self._protocol
        while protocol.state not in (State.CLOSING, State.CLOSED):
            if self._reads_held_until > trio.current_time():
                await trio.sleep_until(self._reads_held_until)
            try:
                message = await ws.get_message()
            except ConnectionClosed as closed:
                if _cut_for_size(closed):
                    protocol.receive_oversized(trio.current_time())
                    self._pump()
                return
            now = trio.current_time()
            if isinstance(message, str):
                outputs = protocol.receive_text(message, now)
            else:
                outputs = protocol.receive_bytes(message, now)
            self._pump()
            for output in outputs:
                if isinstance(output, Dispatch):
                    await self._dispatch(output.request)

    # -- carrying out requests -----------------------------------------------------

    async def _dispatch(self, request: Request) -> None:
        route = ROUTES.get(type(request))
        if route is None or route.mode in (Mode.IN_LINE, Mode.TOLD):
            await self._carry_out(request, route)
            return
        page_read = route.mode is Mode.PAGE_READ
        while self._running >= MAX_IN_FLIGHT or (page_read and not self._room_for_a_page()):
            if self._change is None:
                self._change = trio.Event()
            await self._change.wait()
        self._running += 1
        self._page_reads += page_read
        assert self._nursery is not None
        self._nursery.start_soon(self._carry_out_in_task, request, route)

    def _room_for_a_page(self) -> bool:
        """Another page read may start: below the connection's count, and its reply (with those of
        the reads in flight) has room in the outbound queue."""
        replies = (self._page_reads + 1) * self._services.limits.max_message_bytes
        return self._page_reads < self._page_reads_allowed and self._protocol.has_room_for_replies(replies)

    def _changed(self) -> None:
        """A request was answered or a frame written: the reader may have room again."""
        change, self._change = self._change, None
        if change is not None:
            change.set()

    async def _carry_out_in_task(self, request: Request, route: Route) -> None:
        try:
            if route.mode is Mode.PAGE_READ:
                async with self._services.page_reads:
                    await self._carry_out(request, route)
            else:
                await self._carry_out(request, route)
        finally:
            self._running -= 1
            self._page_reads -= route.mode is Mode.PAGE_READ
            self._changed()

    async def _carry_out(self, request: Request, route: Route | None) -> None:
        """Run the request's handler and answer it (a told one is answered by its channel)."""
        try:
            if route is None:
                raise RequestFailed(ErrorCode.BAD_REQUEST, f"{request.T!r} is not served by this node")
            try:
                result = await route.handler(self, request)
            except StoreError as exc:
                raise RequestFailed(ErrorCode.UNAVAILABLE, f"store unavailable, retry: {exc}") from None
        except RequestFailed as failure:
            self._protocol.answer(request, _refusal(request, failure))
            self._hold_reads(request, failure)
        else:
            if route.mode is Mode.TOLD:
                return
            self._protocol.answer(request, Ok(request.id, result))
        self._pump()

    def _hold_reads(self, request: Request, failure: RequestFailed) -> None:
        """After a `login` or `register` refused `rate_limited`, read nothing more until its `retry`.

        A client that honours `retry` never notices. One that does not gets
        its next frames read when it was told to come back, so a guesser's
        connection costs the node one refusal per wait instead of one per
        round trip (measured: 20 guessers ignoring `retry` were 6,400
        refusals/s and 118 % of a core, the innocent pairs' p99 5.9 x; see
        docs/benchmarks.rst "Under abuse"). Not `send`: its frames are
        pipelined, and holding every one refused behind the first's wait
        would stall an honest device flushing its outbox for as many waits.
        The hold is bounded by half the idle time-out, which counts only
        frames the node has read.
        """
        if failure.code is not ErrorCode.RATE_LIMITED or failure.retry_ms is None:
            return
        if not isinstance(request, (LoginRequest, RegisterRequest)):
            return
        hold = min(failure.retry_ms / 1000, self._services.limits.idle_timeout / 2)
        self._reads_held_until = trio.current_time() + hold

    # -- the handlers that need the connection -------------------------------------

    async def _register(self, request: RegisterRequest) -> UserResult:
        return UserResult(await self._accounts.register(request.username, request.password, self._peer_address()))

    async def _login(self, request: LoginRequest) -> LoginResult:
        login = await self._accounts.login(request.username, request.password, request.device, self._peer_address())
        return LoginResult(login.user, login.device, login.token)

    async def _authenticate(self, request: AuthRequest) -> AuthResult:
        device = await self._accounts.authenticate(request.token)
        user = self._services.user_ref(device.user)
        try:
            # Before `ok`: every message stored after this reaches the device
            # live, every one before it is there for the `sync` that follows.
            grant = await user.ask(
                Attach(device.device, self._ref), self._services.ask_timeout
            )
        except (AskTimeout, ActorDead) as exc:
            raise RequestFailed(ErrorCode.UNAVAILABLE, f"cannot attach the device now: {exc}") from None
        if isinstance(grant, RequestFailed):
            raise grant  # a connection cap of the device or the user
        assert isinstance(grant, DeviceGrant)
        # A revoke that finished between the token check and the attach found
        # no session of this device to end. Any revoke finishing after this
        # look finds this one attached, so no revoked token gets through.
        revoked = True  # until the store says otherwise
        try:
            revoked = await self._accounts.revoked(request.token)
        finally:
            if revoked:
                # Waiting for room: the actor must not go on delivering to a
                # connection that is not authenticated. (Cancelled, the
                # connection ends, and the actor drops it at its next delivery.)
                with contextlib.suppress(ActorDead):
                    await user.tell(Detach(device.device, self._ref))
        if revoked:
            raise RequestFailed(ErrorCode.BAD_TOKEN, "unknown or revoked token")
        self._grant = grant
        self._ticket.authenticated()
        self._attached = (device.user, device.device)
        return AuthResult(device.user, device.device, self._services.limits.heartbeat)

    async def _post(self, request: SendRequest) -> None:
        user, device = self._protocol.user, self._protocol.device
        assert user is not None and device is not None and self._grant is not None
        # After validation (the protocol session's), so a refused send costs
        # the device no token; before the channel, so a throttled one costs
        # the node nothing more.
        retry = self._grant.take_send(trio.current_time())
        if retry is not None:
            self._services.security.record(SecurityEvent.THROTTLED, request="send", user=user, device=device)
            raise RequestFailed(ErrorCode.RATE_LIMITED, "sending too fast", retry_ms=retry)
        post = Post(sender=user, device=device, request=request, reply_to=self._ref)
        try:
            await self._services.channel_ref(request.channel).tell(post)
        except ActorDead:
            raise RequestFailed(ErrorCode.UNAVAILABLE, "node is shutting down") from None


# trio-websocket reads a whole message before it hands it over, checking its
# `max_message_size` as each chunk arrives. Set once per connection, that is
# the 1 MiB of an authenticated device, so a peer not yet authenticated made
# the node read 1 MiB before the protocol session's 8 KiB rule could refuse
# it: five such peers sending maximal maps raised the innocent pairs' p99 to
# 2.4-5 x alone's (docs/benchmarks.rst, "Under abuse"). The limit has no
# public setter, so the session keeps the transport's private one equal to
# the protocol session's `message_limit` (trio-websocket is pinned ~= 0.12,
# and tests/node/test_abuse_transport.py fails if this stops working).
_TRANSPORT_CUT = "Exceeded maximum message size"


def _limit_messages(ws: WebSocketConnection, limit: int) -> None:
    ws._max_message_size = limit


def _cut_for_size(closed: ConnectionClosed) -> bool:
    """The transport closed the connection itself, 1009, at the message limit."""
    reason = closed.reason
    return reason.code == 1009 and (reason.reason or "").startswith(_TRANSPORT_CUT)


def _refusal(request: Request, failure: RequestFailed) -> Err:
    return Err(request.id, failure.code, failure.message, retry=failure.retry_ms)


def _served_by(handle: Callable[..., Awaitable[Result | None]]) -> Handler:
    """A route to a Handlers method, for the requests of an authenticated device."""

    async def handler(session: DeviceSession, request: Request) -> Result | None:
        protocol = session._protocol
        user, device = protocol.user, protocol.device
        assert user is not None and device is not None  # dispatched only once authenticated
        return await handle(session._handlers, request, user, device)

    return handler


#: The one table of requests: every request the protocol session dispatches
#: is carried out by its route, or answered `bad_request` if it has none.
ROUTES: dict[type[Request], Route] = {
    # One at a time: auth's outcome decides what the connection is, and a
    # register or login costs a KDF that pipelining must not multiply.
    RegisterRequest: Route(DeviceSession._register, Mode.IN_LINE),
    LoginRequest: Route(DeviceSession._login, Mode.IN_LINE),
    AuthRequest: Route(DeviceSession._authenticate, Mode.IN_LINE),
    LogoutRequest: Route(_served_by(Handlers.logout), Mode.IN_LINE),
    SendRequest: Route(DeviceSession._post, Mode.TOLD),
    SyncRequest: Route(_served_by(Handlers.sync), Mode.PAGE_READ),
    HistoryRequest: Route(_served_by(Handlers.history), Mode.PAGE_READ),
    LookupRequest: Route(_served_by(Handlers.lookup), Mode.TASK),
    DirectRequest: Route(_served_by(Handlers.direct), Mode.TASK),
    GroupRequest: Route(_served_by(Handlers.group), Mode.TASK),
    InviteRequest: Route(_served_by(Handlers.invite), Mode.TASK),
    LeaveRequest: Route(_served_by(Handlers.leave), Mode.TASK),
    ChannelsRequest: Route(_served_by(Handlers.channels), Mode.TASK),
    ReadRequest: Route(_served_by(Handlers.read), Mode.TASK),
    AckRequest: Route(_served_by(Handlers.ack), Mode.TASK),
    NotifyRequest: Route(_served_by(Handlers.notify), Mode.TASK),
    TypingRequest: Route(_served_by(Handlers.typing), Mode.TASK),
    PresenceRequest: Route(_served_by(Handlers.presence), Mode.TASK),
    DevicesRequest: Route(_served_by(Handlers.devices), Mode.TASK),
    RevokeRequest: Route(_served_by(Handlers.revoke), Mode.TASK),
    PushRequest: Route(_served_by(Handlers.push), Mode.TASK),
    BlockRequest: Route(_served_by(Handlers.block), Mode.TASK),
    UnblockRequest: Route(_served_by(Handlers.unblock), Mode.TASK),
    BlockedRequest: Route(_served_by(Handlers.blocked), Mode.TASK),
}
