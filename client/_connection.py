"""`Connection`: one WebSocket to a node, requests matched to replies, events handed on.

Three tasks share the socket: the caller of each request, one writer, one
reader. Callers never touch the socket: they queue encoded frames for the
writer, so a caller cancelled mid-send cannot leave half a frame on the wire.
The reader never waits on anyone: replies wake their caller, events go to a
handler that must not block. So a reply can never be stuck behind an event an
app has not read yet, and an app may await requests inside its event loop.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import attrs
import trio
import trio_websocket
from attrs import define, field

from protocol import (
    AuthRequest,
    AuthResult,
    ByeEvent,
    Err,
    FrameError,
    LoginRequest,
    LoginResult,
    MsgEvent,
    Ok,
    RegisterRequest,
    Reply,
    Request,
    Result,
    UserResult,
    decode_server_frame,
    encode,
)

from ._api import UNSENT, SessionApi, result_of
from ._errors import ConnectionLost, ProtocolError, error_for
from ._events import ServerEvent
from ._nursery import background_nursery
from ._pending import PendingTable

logger = logging.getLogger(__name__)

class EventHandler(Protocol):
    """Called by the reader for each event. Must not block; raise EventOverflow to drop the connection."""

    def __call__(self, event: ServerEvent, /) -> None: ...

#: Seconds a connection cancelled from outside gives its close frame to go out.
CANCELLED_CLOSE_GRACE = 0.1

_OUTBOX = 64  # frames queued for the writer; past it, callers wait (back-pressure from the socket)


class EventOverflow(Exception):
    """An event handler cannot take another event: the consumer is too slow, so the connection is dropped."""


@define(eq=False)
class _Waiter:
    """One caller waiting for its reply, or for the news that none will come."""

    request: Request | None = None  # as sent, with its id: the decoder reads the reply by it
    done: trio.Event = field(factory=trio.Event)
    reply: Reply | None = None
    lost: ConnectionLost | None = None

    def answer(self, reply: Reply) -> None:
        self.reply = reply
        self.done.set()

    def abandon(self, lost: ConnectionLost) -> None:
        self.lost = lost
        self.done.set()


@define(eq=False)
class Connection(SessionApi):
    """One authenticated-or-not WebSocket session with a node.

    Open it with `Connection.open(url)`; it does not reconnect (that is
    `ChatClient`'s job). When the node closes it, requests in flight and later
    ones raise `ConnectionLost`, `events()` ends and `close_reason` says why.
    """

    _ws: trio_websocket.WebSocketConnection
    _on_event: EventHandler
    _pending: PendingTable[_Waiter]
    _admission: trio.Semaphore
    _close_timeout: float
    _outbox: trio.MemorySendChannel[bytes]
    _outbox_out: trio.MemoryReceiveChannel[bytes]
    # The events() channel, unless events go to a handler of the caller's.
    _events_in: trio.MemorySendChannel[ServerEvent] | None
    _events: trio.MemoryReceiveChannel[ServerEvent] | None
    _closed: trio.Event = field(factory=trio.Event)
    _local_reason: str | None = None
    # Set when our close handshake is over (answered or timed out), for the
    # callers of _close_websocket after the first one.
    _handshake_over: trio.Event | None = None
    # ProtocolError once the node broke the protocol, for the requests that follow.
    _lost: type[ConnectionLost] = ConnectionLost
    close_reason: str | None = None
    """Why the connection ended; None while it is open."""
    bye: ByeEvent | None = None
    """The node's `bye`, if it said goodbye before closing."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        on_event: EventHandler | None = None,
        event_buffer: int = 256,
        max_in_flight: int = 256,
        connect_timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_message_size: int = 64 * 2**20,
        ssl_context: ssl.SSLContext | None = None,
    ) -> AsyncIterator[Connection]:
        """Connect to `url` (e.g. ``ws://host:8765/v1``, or ``wss://`` for TLS); closes the connection on exit.

        Events go to `on_event` if given, else to the `events()` channel of
        `event_buffer` entries, and the connection is dropped if it fills up.
        At most `max_in_flight` requests await replies; more callers wait.
        `max_message_size` bounds one frame from the node (a sync page of
        large messages is the biggest); a larger one ends the connection.
        `ssl_context` verifies a ``wss://`` node (the system's CAs when None;
        `ssl.create_default_context(cafile=...)` for a private CA).
        Raises ConnectionLost if the node cannot be reached, or its
        certificate is not trusted.
        """
        events_in: trio.MemorySendChannel[ServerEvent] | None = None
        events: trio.MemoryReceiveChannel[ServerEvent] | None = None
        if on_event is None:
            events_in, events = trio.open_memory_channel[ServerEvent](event_buffer)
            on_event = _channel_handler(events_in)
        outbox, outbox_out = trio.open_memory_channel[bytes](_OUTBOX)
        async with background_nursery() as nursery:
            try:
                with trio.fail_after(connect_timeout):
                    ws = await trio_websocket.connect_websocket_url(
                        nursery, url, ssl_context, max_message_size=max_message_size
                    )
            except (OSError, trio.BrokenResourceError, trio_websocket.HandshakeError, trio.TooSlowError) as exc:
                raise ConnectionLost(f"cannot connect to {url}: {exc!r}") from exc
            conn = cls(
                ws,
                on_event,
                PendingTable(max_in_flight),
                trio.Semaphore(max_in_flight),
                close_timeout,
                outbox,
                outbox_out,
                events_in,
                events,
            )
            nursery.start_soon(conn._write)
            nursery.start_soon(conn._read)
            try:
                yield conn
            finally:
                await conn._close_websocket("closed by the client", 1000)
                nursery.cancel_scope.cancel()

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    def events(self) -> trio.MemoryReceiveChannel[ServerEvent]:
        """The node's events in arrival order; iteration ends when the connection does."""
        if self._events is None:
            raise RuntimeError("this connection hands its events to on_event")
        return self._events

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def aclose(self, reason: str = "closed by the client") -> None:
        """Close the connection; `reason` becomes its `close_reason`."""
        await self._close_websocket(reason, 1000)

    async def request(self, request: Request) -> Result | None:
        """Send `request` under an id of this connection's and return its result (None for a bare `ok`).

        Raises the ChatError of an `err`, or ConnectionLost (ProtocolError if
        the node broke the protocol). The id `request` carries is replaced:
        ids are this connection's to hand out, unique among its requests in
        flight, so one request value may be sent on several connections.
        """
        async with self._admission:
            if self.close_reason is not None:
                raise self._lost(self.close_reason)
            waiter = _Waiter()
            request_id = self._pending.add(waiter)
            try:
                waiter.request = attrs.evolve(request, id=request_id)
                try:
                    await self._outbox.send(encode(waiter.request))
                except trio.ClosedResourceError:
                    pass  # shut down meanwhile, which abandoned the waiter first
                except trio.BrokenResourceError:
                    pass  # the writer saw the close first; the reader sees it too and abandons the waiter
                await waiter.done.wait()
            finally:
                if not waiter.done.is_set():
                    self._pending.pop(request_id)  # cancelled: a late reply is dropped
        if waiter.reply is None:
            assert waiter.lost is not None
            raise waiter.lost
        if isinstance(waiter.reply, Err):
            raise error_for(waiter.reply.code, waiter.reply.msg, waiter.reply.retry)
        return waiter.reply.result

    # -- the requests before authentication ----------------------------------

    async def register(self, username: str, password: str) -> int:
        """Create an account; returns its user id. Raises UsernameTaken."""
        return result_of(await self.request(RegisterRequest(UNSENT, username, password)), UserResult).user

    async def login(self, username: str, password: str, device: str) -> LoginResult:
        """Create a device on the account; its token authenticates later connections."""
        return result_of(await self.request(LoginRequest(UNSENT, username, password, device)), LoginResult)

    async def auth(self, token: str) -> AuthResult:
        return result_of(await self.request(AuthRequest(UNSENT, token)), AuthResult)

    # -- the tasks -------------------------------------------------------------

    async def _write(self) -> None:
        async with self._outbox_out:
            async for data in self._outbox_out:
                try:
                    await self._ws.send_message(data)
                except trio_websocket.ConnectionClosed:
                    return  # the reader sees the close too, and shuts down

    async def _read(self) -> None:
        reason, lost = "closed", ConnectionLost
        try:
            while True:
                try:
                    data = await self._ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    reason = self._local_reason or _describe(exc.reason)
                    return
                try:
                    self._dispatch(data)
                except FrameError as exc:
                    reason, lost = f"protocol violation by the node: {exc}", ProtocolError
                    logger.warning("%s; closing", reason)
                    await self._close_websocket(reason, 1002)
                    return
                except EventOverflow as exc:
                    reason = f"events not consumed fast enough: {exc}"
                    await self._close_websocket(reason, 1000)
                    return
        finally:
            self._shut_down(self._local_reason or reason, lost)

    def _dispatch(self, data: str | bytes) -> None:
        frame = read_frame(data, self._in_flight)
        if isinstance(frame, Ok | Err):
            # An err without an id answers no request: the node refused a
            # frame it could not read, and closes the connection next.
            waiter = None if frame.id is None else self._pending.pop(frame.id)
            if waiter is not None:
                waiter.answer(frame)
        elif frame is not None:  # None: an event type newer than this client
            if isinstance(frame, ByeEvent):
                self.bye = frame
            self._on_event(frame)

    def _in_flight(self, request_id: int) -> Request | None:
        waiter = self._pending.get(request_id)
        return None if waiter is None else waiter.request

    async def _close_websocket(self, reason: str, code: int) -> None:
        if self._local_reason is None and self.close_reason is None:
            self._local_reason = reason
        # Shielded and bounded: closing must finish even when the caller is
        # being cancelled, and must not hang on a node that stopped answering.
        timeout = self._close_timeout
        if trio.current_effective_deadline() == -math.inf:
            # Cancelled from outside: trio-websocket's reader is cancelled with
            # us, so the node's close reply would never be read. Send the close
            # frame and go, rather than wait out the whole timeout for nothing.
            timeout = min(timeout, CANCELLED_CLOSE_GRACE)
        with trio.move_on_after(timeout, shield=True):
            if self._handshake_over is not None:
                # Another task is closing. trio-websocket returns at once to a
                # second aclose; wait instead, so that open() does not cancel
                # the reader before the node's close reply is read.
                await self._handshake_over.wait()
                return
            self._handshake_over = trio.Event()
            try:
                await self._ws.aclose(code, reason)
            finally:
                self._handshake_over.set()

    def _shut_down(self, reason: str, lost: type[ConnectionLost]) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._lost = lost
        for waiter in self._pending.drain():
            waiter.abandon(lost(reason))
        # After abandoning the waiters: a caller woken by this close finds its answer.
        self._outbox.close()
        if self._events_in is not None:
            self._events_in.close()
        self._closed.set()


def read_frame(data: str | bytes, in_flight: Callable[[int], Request | None]) -> Reply | ServerEvent | None:
    """One WebSocket message from the node, as the client takes it. Sans-IO.

    The protocol's decoder with the client's lenient rules (`in_flight` maps
    the id of each request awaiting its reply to that request), and a `msg`
    event unwrapped to its Message. None for an event type newer than this
    client. Raises FrameError for anything else the protocol does not allow.
    """
    if not isinstance(data, bytes):
        raise FrameError("a text message (frames are binary)")
    frame = decode_server_frame(data, in_flight, lenient=True)
    return frame.message if isinstance(frame, MsgEvent) else frame


def _channel_handler(events: trio.MemorySendChannel[ServerEvent]) -> EventHandler:
    def push(event: ServerEvent) -> None:
        try:
            events.send_nowait(event)
        except trio.WouldBlock:
            raise EventOverflow("events() is full") from None
        except trio.BrokenResourceError:
            pass  # nobody reads events(): the app does not want them

    return push


def _describe(reason: trio_websocket.CloseReason | None) -> str:
    if reason is None:
        return "connection lost"
    text = f"closed by the node ({reason.code} {reason.name})"
    return f"{text}: {reason.reason}" if reason.reason else text
