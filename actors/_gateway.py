"""The WebSocket listener: one DeviceSession per connection, under a supervisor.

trio-websocket runs each connection's handler in its server's nursery, where
an exception would end the whole listener. So the handler only accepts and
hands the socket to a dynamic supervisor of temporary children: a session
that crashes is logged once and closes its own connection, nothing else.
"""

from __future__ import annotations

import logging
from functools import partial

import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, serve_websocket

from runtime import DynamicSupervisor, Restart, TooManyChildren

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
        self._outbound_queue = outbound_queue
        self._ask_timeout = ask_timeout
        self._sessions = DynamicSupervisor(
            "sessions",
            self._run_session,
            restart=Restart.TEMPORARY,
            max_children=max_connections,
            shutdown=1.0,
        )
        self._listener = trio.CancelScope()
        # Sessions running now. The supervisor knows them too, but this is what
        # the idle sweep walks every half heartbeat, without a ChildInfo each.
        self._live: set[DeviceSession] = set()
        self.port: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self._sessions.run)
            nursery.start_soon(self._close_idle_sessions)
            with self._listener:
                server = await nursery.start(
                    partial(
                        serve_websocket,
                        self._accept,
                        self._host,
                        self._port,
                        ssl_context=None,
                        max_message_size=self._services.limits.max_message_bytes,
                    )
                )
                self.port = server.port
                task_status.started(self)
            # Cancelled in drain(): stop accepting, let the sessions end.
            await trio.sleep_forever()

    @property
    def connections(self) -> int:
        return len(self._sessions)

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
        if request.path != RESOURCE:
            await request.reject(404, body=b"the chat protocol is served at /v1\n")
            return
        ws = await request.accept()
        try:
            session = await self._sessions.start_child(ws)
        except TooManyChildren:
            log.warning("connection limit reached, refusing %s", ws.remote)
            await ws.aclose(TRY_AGAIN_LATER, "node full, try another")
            return
        except RuntimeError:
            return  # draining: the listener is being cancelled
        assert isinstance(session, DeviceSession)
        await session.finished.wait()

    async def _run_session(
        self, ws: WebSocketConnection, *, task_status: trio.TaskStatus[DeviceSession] = trio.TASK_STATUS_IGNORED
    ) -> None:
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
            await session.run(task_status=task_status)
        finally:
            self._live.discard(session)
