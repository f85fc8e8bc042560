"""The WebSocket listener: one DeviceSession per connection, run in that connection's task.

trio-websocket runs each connection's handler in a task of its own, here in
the gateway's nursery (`handler_nursery`), outside the listener's scope:
`drain` stops accepting without cancelling a single session. The handler
runs the session itself, so a device costs that task and no supervisor
child. The handler is the session's supervisor in OTP's terms, for a
temporary child: at most `max_connections` run at once (more are refused
with 1013, try again later), and a session that crashes is logged once and
closes its own connection, nothing else (an exception escaping a handler
would end the gateway). Cancelling the gateway cancels every session.
"""

from __future__ import annotations

import logging

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, WebSocketServer, serve_websocket

from ._accounts import Accounts
from ._handlers import Handlers
from ._services import Services
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
        outbound_queue: int,
        ask_timeout: float,
    ) -> None:
        self._services = services
        self._accounts = accounts
        self._handlers = handlers
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._outbound_queue = outbound_queue
        self._ask_timeout = ask_timeout
        self._listener = trio.CancelScope()
        # Sessions running now: the connection limit counts them, drain and
        # the idle sweep walk them.
        self._live: set[DeviceSession] = set()
        self.port: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
        self._listener = trio.CancelScope()  # a fresh one per run: a scope is entered once
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._close_idle_sessions)
            server = await nursery.start(self._listen, nursery)
            self.port = server.port
            task_status.started(self)

    async def _listen(self, connections: trio.Nursery, *, task_status: trio.TaskStatus[WebSocketServer]) -> None:
        with self._listener:
            await serve_websocket(
                self._accept,
                self._host,
                self._port,
                ssl_context=None,
                handler_nursery=connections,
                max_message_size=self._services.limits.max_message_bytes,
                task_status=task_status,
            )

    @property
    def connections(self) -> int:
        return len(self._live)

    async def drain(self, retry_ms: int, timeout: float) -> None:
        """Stop accepting; give every device `bye` (draining) once its sends are answered."""
        self._listener.cancel()
        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                for session in list(self._live):
                    nursery.start_soon(session.drain, retry_ms)

    async def _close_idle_sessions(self) -> None:
        """Every half heartbeat, close the sessions silent for the idle timeout.

        So a device is closed at most half a heartbeat after its timeout.
        """
        interval = self._services.limits.heartbeat / 2
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for session in self._live:  # no await in here: the set stays as it is
                session.close_if_idle(now)

    async def _accept(self, request: WebSocketRequest) -> None:
        # A peer gone before the handshake's answer is written raises here,
        # in the gateway's nursery: it must end this handler only.
        try:
            if request.path != RESOURCE:
                await request.reject(404, body=b"the chat protocol is served at /v1\n")
                return
            ws = await request.accept()
        except ConnectionClosed:
            return
        if self._listener.cancel_called:
            # Its handshake was under way when drain began, which has already
            # told every session it knows of.
            await ws.aclose(TRY_AGAIN_LATER, "node draining, try another")
            return
        if len(self._live) >= self._max_connections:
            log.warning("connection limit reached, refusing %s", ws.remote)
            await ws.aclose(TRY_AGAIN_LATER, "node full, try another")
            return
        session = DeviceSession(
            ws,
            self._services,
            self._accounts,
            self._handlers,
            outbound_queue=self._outbound_queue,
            ask_timeout=self._ask_timeout,
        )
        self._live.add(session)
        try:
            await session.run()
        except Exception as exc:
            log.error("%r crashed, closing its connection", session, exc_info=exc)
        finally:
            self._live.discard(session)
