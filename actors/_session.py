"""DeviceSession: one WebSocket, driven through the sans-IO ProtocolSession.

Two halves, so that reading never waits on writing:
- the reader task takes frames off the socket, lets the protocol session
  decide what each one is, and carries out requests: sends in line (their
  order is the device's order), everything else in handler tasks, at most
  `MAX_IN_FLIGHT` at a time so a client cannot make us hold unbounded work;
- the writer is an actor hosted in the connection's nursery, with a task only
  while it has frames to write (an idle device then costs no task for it);
  its bounded mailbox is the device's outbound queue. Channels and users
  hand it frames without waiting; when it is full the device is not
  reading, and the session ends with `bye` (slow consumer) instead of
  slowing anyone else down.

A crash here ends this connection only; the gateway logs it once.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Hashable

import trio
from trio_websocket import ConnectionClosed, Endpoint, WebSocketConnection

from storage import StoreError
from runtime import Actor, ActorDead, ActorRef, AskTimeout, MailboxFull, spawn_actor
from protocol import (
    AuthRequest,
    AuthResult,
    ByeReason,
    Close,
    CloseCode,
    Dispatch,
    Err,
    ErrorCode,
    LoginRequest,
    LoginResult,
    LogoutRequest,
    Ok,
    Output,
    ProtocolSession,
    RegisterRequest,
    Request,
    SendRequest,
    UserResult,
)

from ._accounts import Accounts
from ._failures import RequestFailed
from ._handlers import Handlers
from ._mail import Attach, Detach, Disconnect, Hangup, Outgoing, Post, PostReply
from ._services import Services

log = logging.getLogger(__name__)

#: Requests of one connection being handled at once (sends not counted:
#: they queue in their channel's mailbox). More waits, and stops the reader.
MAX_IN_FLIGHT = 32

#: Seconds to get a frame or a close handshake through to a peer that may
#: have stopped reading.
BYE_GRACE = 2.0

#: Seconds a slow consumer has to take the frame it is stuck on, after which
#: the connection is dropped without a `bye` (the peer is likely gone).
SLOW_CONSUMER_GRACE = 10.0

_session_numbers = itertools.count(1)


class _Writer(Actor):
    """The device's outbound queue: writes each frame in mailbox order."""

    __slots__ = ("_session",)

    def __init__(self, session: DeviceSession) -> None:
        self._session = session

    async def receive(self, message: object) -> object:
        session = self._session
        if session.slow:
            # The frame in flight is finished; whatever is queued behind it
            # is dropped and the device told why. It recovers with `sync`.
            await session.close(ByeReason.SLOW_CONSUMER)
        elif isinstance(message, Outgoing):
            await session.write(message.frame)
        elif isinstance(message, PostReply):
            await session.write(message.frame)
            session.post_answered()
        elif isinstance(message, Disconnect):
            await session.close(ByeReason(message.reason), message.retry_ms)
        elif isinstance(message, Hangup):
            await session.hang_up(message.code, message.reason)
        else:
            raise TypeError(f"session writer got {message!r}")
        return None


class SessionRef(ActorRef):
    """The session's address for channels and users: its writer's, plus its policy.

    The runtime reports a full mailbox to the sender; for a device that is
    the moment to end the connection, so this ref tells the session before
    passing the error on.
    """

    __slots__ = ("_writer", "_session")

    def __init__(self, writer: ActorRef, session: DeviceSession) -> None:
        self._writer = writer
        self._session = session

    @property
    def key(self) -> Hashable:
        return self._writer.key

    @property
    def alive(self) -> bool:
        return self._writer.alive

    async def tell(self, message: object) -> None:
        await self._writer.tell(message)

    def tell_nowait(self, message: object) -> None:
        try:
            self._writer.tell_nowait(message)
        except MailboxFull:
            self._session.overflowed()
            raise

    async def ask(self, message: object, timeout: float) -> object:
        return await self._writer.ask(message, timeout)


class DeviceSession:
    def __init__(
        self,
        ws: WebSocketConnection,
        services: Services,
        accounts: Accounts,
        handlers: Handlers,
        *,
        outbound_queue: int,
    ) -> None:
        self._ws = ws
        self._services = services
        self._accounts = accounts
        self._outbound_queue = outbound_queue
        self._protocol = ProtocolSession(now=trio.current_time(), limits=services.limits)
        self._number = next(_session_numbers)
        self._handlers = handlers
        self._ref: SessionRef | None = None
        self._slow = False
        self._nursery: trio.Nursery | None = None
        self._draining = False
        self._closing = False  # the writer started the close handshake
        self._posts_pending = 0
        self._requests_running = 0  # being answered now (sends not counted)
        self._busy_seen = -math.inf  # when the idle check last found a request running
        self._idle_closed = False
        self._finished = False
        # Set at the next change of _posts_pending, _requests_running or
        # _finished; made only while someone waits for one. Most sessions
        # never have a waiter, and three Events and a Semaphore each were a
        # kilobyte per idle device.
        self._change: trio.Event | None = None

    @property
    def user(self) -> int | None:
        return self._protocol.user

    @property
    def _peer(self) -> str:
        """The peer's address, what logins and registrations are throttled by."""
        remote = self._ws.remote
        return str(remote.address) if isinstance(remote, Endpoint) else remote

    # -- lifecycle ---------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<DeviceSession {self._number} user {self.user}>"

    async def run(self, connection: trio.Nursery) -> None:
        """Serve the device until the connection closes; a crash propagates.

        `connection` is the nursery the gateway runs the connection in: the
        session's writer and request tasks run there beside the transport's
        reader, and the session ends by cancelling it (`_end`), so this
        returns only by cancellation or a crash.
        """
        self._nursery = connection
        try:
            writer = await spawn_actor(
                connection, _Writer(self), key=("session", self._number), mailbox_size=self._outbound_queue
            )
            self._ref = SessionRef(writer, self)
            await self._read(connection)
            # A close of ours ends the reader at once; cancelling then would
            # cut the handshake and reset a peer still sending, losing the
            # `bye` it had not read. The writer ends the session after it.
            if not self._closing:
                self._end()
            await trio.sleep_forever()
        finally:
            self._detach()
            self._protocol.closed()
            self._finished = True
            self._changed()

    async def drain(self, retry_ms: int) -> None:
        """Stop taking requests, let accepted sends finish, then `bye` (draining)."""
        self._draining = True
        # A session that ended with posts unanswered answers none of them.
        while self._posts_pending and not self._finished:
            await self._next_change()
        if self._ref is not None:
            self._services.tell_session(self._ref, Disconnect(ByeReason.DRAINING.value, retry_ms))
        while not self._finished:
            await self._next_change()

    async def _next_change(self) -> None:
        """Wait until posts or requests are answered, or the session finished."""
        if self._change is None:
            self._change = trio.Event()
        await self._change.wait()

    def _changed(self) -> None:
        change, self._change = self._change, None
        if change is not None:
            change.set()

    @property
    def slow(self) -> bool:
        return self._slow

    def overflowed(self) -> None:
        """The outbound queue is full: the device does not read. Cut it off.

        Not by cancelling the writer, which may be in the middle of a frame:
        it says `bye` as soon as the frame in flight is taken, and the
        watchdog drops the connection if even that never happens.
        """
        if not self._slow and self._nursery is not None:
            log.info("session %d (user %s): slow consumer, closing", self._number, self.user)
            self._slow = True
            self._nursery.start_soon(self._slow_consumer_watchdog)

    def close_if_idle(self, now: float) -> None:
        """Close the device if it sent nothing for `idle_timeout` seconds (`bye` idle).

        The gateway calls this for every session every few seconds: one task
        for all connections, rather than a watchdog task (and its memory)
        each. Any frame counts as activity, a `ping` most of all; WebSocket
        pings do not: trio-websocket answers them itself, and a client that
        only does that is not running the protocol's heartbeat.
        """
        if self._idle_closed or self._ref is None:
            return
        if self._requests_running:
            # Waiting on us is not silence: a device whose auth is queued
            # behind a busy store must not be cut off for it.
            self._busy_seen = now
            return
        last = max(self._protocol.last_activity, self._busy_seen)
        if now >= last + self._services.limits.idle_timeout:
            self._idle_closed = True
            self._services.tell_session(self._ref, Disconnect(ByeReason.IDLE.value))

    async def _slow_consumer_watchdog(self) -> None:
        await trio.sleep(SLOW_CONSUMER_GRACE)
        log.info("session %d: slow consumer took no frame in %s s, dropping", self._number, SLOW_CONSUMER_GRACE)
        self._end()

    def _end(self) -> None:
        """End the session now: its reader, writer and handlers are cancelled, and the connection with them."""
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    def _detach(self) -> None:
        user, device = self._protocol.user, self._protocol.device
        if user is None or device is None or self._ref is None:
            return
        try:
            self._services.user_ref(user).tell_nowait(Detach(device, self._ref))
        except (MailboxFull, ActorDead):
            pass  # the user actor drops dead sessions on its next delivery

    # -- writing -----------------------------------------------------------------

    async def write(self, frame: bytes) -> None:
        try:
            await self._ws.send_message(frame)
        except ConnectionClosed:
            self._end()

    def post_answered(self) -> None:
        self._posts_pending -= 1
        if self._posts_pending == 0:
            self._changed()

    async def close(self, reason: ByeReason, retry_ms: int | None = None) -> None:
        """Say `bye`, then close: called by the writer, after every earlier frame."""
        await self._send_outputs(self._protocol.closing(reason, retry_ms))

    async def hang_up(self, code: int, reason: str) -> None:
        await self._send_output(Close(CloseCode(code), reason))

    async def _send_outputs(self, outputs: list[Output]) -> None:
        for output in outputs:
            await self._send_output(output)

    async def _send_output(self, output: Output) -> None:
        if isinstance(output, Close):
            self._closing = True
            # aclose waits for the peer's close frame; a dead peer sends none.
            # Cancelled, it closes the TCP stream itself.
            with trio.move_on_after(BYE_GRACE):
                await self._ws.aclose(int(output.code), output.reason)
            self._end()
            return
        data = self._protocol.send(output)
        if data is not None:
            await self.write(data)

    def _reply(self, reply: Ok | Err) -> None:
        data = self._protocol.send(reply)
        if data is not None and self._ref is not None:
            self._services.tell_session(self._ref, Outgoing(data))

    # -- reading -----------------------------------------------------------------

    async def _read(self, nursery: trio.Nursery) -> None:
        ws, protocol = self._ws, self._protocol
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed:
                return
            now = trio.current_time()
            if isinstance(message, str):
                outputs = protocol.receive_text(message, now)
            else:
                outputs = protocol.receive_bytes(message, now)
            for output in outputs:
                if isinstance(output, Dispatch):
                    await self._dispatch(output.request, nursery)
                elif isinstance(output, Close):
                    # Through the writer, after the err frame queued before it;
                    # the writer's close ends this session.
                    await self._hang_up(output)
                    return
                else:
                    self._reply(output)

    async def _hang_up(self, close: Close) -> None:
        assert self._ref is not None
        with trio.move_on_after(BYE_GRACE):
            await self._ref.tell(Hangup(int(close.code), close.reason))
            await trio.sleep_forever()

    async def _dispatch(self, request: Request, nursery: trio.Nursery) -> None:
        if self._draining:
            self._reply(Err(request.id, ErrorCode.UNAVAILABLE, "node is draining, reconnect"))
        elif isinstance(request, SendRequest):
            await self._post(request)
        elif isinstance(request, AuthRequest | RegisterRequest | LoginRequest | LogoutRequest):
            # In line: the protocol waits for auth's outcome anyway, and the
            # others are once-per-connection.
            self._requests_running += 1
            await self._answer(request)
        else:
            # In line requests are over by now: all running ones are here.
            while self._requests_running >= MAX_IN_FLIGHT:
                await self._next_change()
            self._requests_running += 1
            nursery.start_soon(self._answer, request)

    async def _answer(self, request: Request) -> None:
        """Answer a request already counted in `_requests_running`."""
        try:
            await self._answer_counted(request)
        finally:
            self._requests_running -= 1
            self._changed()

    async def _answer_counted(self, request: Request) -> None:
        try:
            try:
                result = await self._handle(request)
            except StoreError as exc:
                raise RequestFailed(ErrorCode.UNAVAILABLE, f"store unavailable, retry: {exc}") from None
        except RequestFailed as failure:
            if isinstance(request, AuthRequest):
                self._protocol.auth_rejected()
            self._reply(Err(request.id, failure.code, failure.message, retry=failure.retry_ms))
            return
        self._reply(Ok(request.id, result))

    async def _handle(self, request: Request) -> object:
        if isinstance(request, RegisterRequest):
            return UserResult(await self._accounts.register(request.username, request.password, self._peer))
        if isinstance(request, LoginRequest):
            login = await self._accounts.login(request.username, request.password, request.device, self._peer)
            return LoginResult(login.user, login.device, login.token)
        if isinstance(request, AuthRequest):
            return await self._authenticate(request)
        user, device = self._protocol.user, self._protocol.device
        assert user is not None and device is not None
        return await self._handlers.handle(request, user, device)

    async def _authenticate(self, request: AuthRequest) -> AuthResult:
        assert self._ref is not None
        device = await self._accounts.authenticate(request.token)
        user = self._services.user_ref(device.user)
        try:
            # Before `ok`: every message stored after this reaches the device
            # live, every one before it is there for the `sync` that follows.
            await user.ask(Attach(device.device, self._ref), self._services.ask_timeout)
        except (AskTimeout, ActorDead) as exc:
            raise RequestFailed(ErrorCode.UNAVAILABLE, f"cannot attach the device now: {exc}") from None
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
        self._protocol.authenticated(device.user, device.device)
        return AuthResult(device.user, device.device, self._services.limits.heartbeat)

    async def _post(self, request: SendRequest) -> None:
        assert self._ref is not None
        user, device = self._protocol.user, self._protocol.device
        assert user is not None and device is not None
        post = Post(
            sender=user,
            device=device,
            request_id=request.id,
            body=request.body,
            cid=request.cid,
            reply_to=self._ref,
        )
        # Counted before the tell: while it waits for mailbox space the
        # channel may answer an earlier post, and drain must never see zero
        # with this one queued.
        self._posts_pending += 1
        try:
            await self._services.channel_ref(request.channel).tell(post)
        except ActorDead:
            self.post_answered()
            self._reply(Err(request.id, ErrorCode.UNAVAILABLE, "node is shutting down"))
