"""The WebSocket listener: one DeviceSession per connection, run in that connection's task.

Trio's `serve_listeners` runs each TCP connection in a task of its own, here
in the gateway's nursery, outside the listener's scope: `drain` stops
accepting without cancelling a single session. That task does the
WebSocket handshake (trio-websocket's `wrap_server_stream`, bounded by
`handshake_timeout`) and then runs the session itself, so a device costs
that task and one nursery, and no supervisor child. The task is the
session's supervisor in OTP's terms, for a temporary child: at most
`max_connections` run at once (more are refused with 1013, try again
later), and a session that crashes is logged once and closes its own
connection, nothing else (an exception escaping the task would end the
gateway). Cancelling the gateway cancels every session.

One task ticks every session (`_tick_sessions`): idle devices, connections
that never authenticate and closes that do not get through in time are all
found by that clock, not by a watchdog task per connection.
"""

from __future__ import annotations

import logging
import socket

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from ._accounts import Accounts
from ._handlers import Handlers
from ._services import Services
from protocol import ByeReason

from ._session import DeviceSession

log = logging.getLogger(__name__)

RESOURCE = "/v1"

#: WebSocket close code for "try again later" (RFC 6455 registry).
TRY_AGAIN_LATER = 1013


class Gateway:
    def __init__(
        self,
        services: Services,
        accounts: Accounts,
        handlers: Handlers,
        *,
        host: str,
        port: int,
        max_connections: int,
        handshake_timeout: float,
        close_grace: float,
        page_reads: int,
    ) -> None:
        self._services = services
        self._accounts = accounts
        self._handlers = handlers
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._handshake_timeout = handshake_timeout
        self._close_grace = close_grace
        self._page_reads = page_reads
        self._listener = trio.CancelScope()
        # Sessions running now: the connection limit counts them, drain and
        # the clock walk them.
        self._live: set[DeviceSession] = set()
        self._all_gone: trio.Event | None = None  # made while a drain waits for the last session
        self.port: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
        self._listener = trio.CancelScope()  # a fresh one per run: a scope is entered once
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._tick_sessions)
            self.port = await nursery.start(self._listen, nursery)
            task_status.started(self)

    async def _listen(self, connections: trio.Nursery, *, task_status: trio.TaskStatus[int]) -> None:
        with self._listener:
            listeners = await trio.open_tcp_listeners(self._port, host=self._host)
            # Listening already: connections made from here on wait in the backlog.
            task_status.started(listeners[0].socket.getsockname()[1])
            await trio.serve_listeners(self._connection, listeners, handler_nursery=connections)

    @property
    def connections(self) -> int:
        return len(self._live)

    async def drain(self, retry_ms: int, timeout: float) -> None:
        """Stop accepting; give every device `bye` (draining) once its requests are answered."""
        self._listener.cancel()
        with trio.move_on_after(timeout):
            for session in list(self._live):
                session.close(ByeReason.DRAINING, retry_ms)
            if self._live:
                self._all_gone = trio.Event()
                await self._all_gone.wait()

    async def _tick_sessions(self) -> None:
        """Every half heartbeat, tick every session.

        So a device is closed at most half a heartbeat after its idle
        timeout or its auth deadline, and aborted at most a heartbeat after
        its close grace (the grace starts at the first tick that finds it
        closing).
        """
        interval = self._services.limits.heartbeat / 2
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for session in self._live:  # no await in here: the set stays as it is
                session.tick(now)

    async def _connection(self, stream: trio.SocketStream) -> None:
        """One TCP connection: the WebSocket handshake, then the device's session.

        A single nursery holds the connection's reader task and the
        session's writer and request tasks, so ending the session (cancelling
        that nursery) ends the connection too, and a device costs one
        nursery, not one for the transport and another for the session.
        """
        session: DeviceSession | None = None
        try:
            _bound_unacknowledged(stream, self._services.limits.idle_timeout)
            async with trio.open_nursery() as connection:
                ws = await self._handshake(stream, connection)
                if ws is not None and await self._admitted(ws):
                    session = DeviceSession(
                        ws,
                        self._services,
                        self._accounts,
                        self._handlers,
                        close_grace=self._close_grace,
                        page_reads=self._page_reads,
                    )
                    self._live.add(session)
                    await session.run(connection)
                # Refused, or the handshake failed: the session, which never
                # returns, ends this scope itself.
                connection.cancel_scope.cancel()
        except Exception as exc:
            log.error("%r crashed, closing its connection", session or stream, exc_info=exc)
        finally:
            if session is not None:
                self._live.discard(session)
                if not self._live and self._all_gone is not None:
                    self._all_gone.set()
            await trio.aclose_forcefully(stream)

    async def _handshake(self, stream: trio.SocketStream, connection: trio.Nursery) -> WebSocketConnection | None:
        """The opening handshake, within `handshake_timeout`: the WebSocket, or None if refused or gone."""
        with trio.move_on_after(self._handshake_timeout):
            # A peer gone before the handshake's answer is written raises here:
            # it must end this connection only.
            try:
                request = await wrap_server_stream(
                    connection, stream, max_message_size=self._services.limits.max_message_bytes
                )
                if request.path != RESOURCE:
                    await request.reject(404, body=b"the chat protocol is served at /v1\n")
                    return None
                return await request.accept()
            except ConnectionClosed:
                return None
        return None

    async def _admitted(self, ws: WebSocketConnection) -> bool:
        """Whether the node takes this device now; if not, it is told 1013 (try another)."""
        if self._listener.cancel_called:
            # Its handshake was under way when drain began, which has already
            # told every session it knows of.
            await self._refuse(ws, "node draining, try another")
            return False
        if len(self._live) >= self._max_connections:
            log.warning("connection limit reached, refusing %s", ws.remote)
            await self._refuse(ws, "node full, try another")
            return False
        return True


    async def _refuse(self, ws: WebSocketConnection, reason: str) -> None:
        """Close with 1013, waiting for the peer's close frame as long as for a `bye`'s."""
        with trio.move_on_after(self._close_grace):  # cancelled, aclose closes the socket itself
            await ws.aclose(TRY_AGAIN_LATER, reason)


def _bound_unacknowledged(stream: trio.SocketStream, seconds: float) -> None:
    """Have the kernel give up on the connection when data it sent stays unacknowledged for `seconds`.

    A peer that vanished (no FIN, no RST) otherwise holds the socket for
    TCP's retransmission timeout, some fifteen minutes: `TCP_USER_TIMEOUT`
    (Linux) bounds that as the idle timeout bounds silence.
    """
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is not None:
        stream.setsockopt(socket.IPPROTO_TCP, option, int(seconds * 1000))
