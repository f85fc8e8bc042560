"""The node's one listener: the chat's WebSocket at `/v1`, the web client's files beside it.

Trio's `serve_listeners` runs each TCP connection in a task of its own, here
in the gateway's nursery, outside the listener's scope: `drain` stops
accepting without cancelling a single session. That task reads the
connection's HTTP requests (`_http.py`, on h11): plain ones get the web
client's files (`_web.py`), and the chat's opening handshake goes to
trio-websocket (`wrap_server_stream`), bounded by `handshake_timeout`; then
the task runs the session itself, so a device costs that task and one
nursery, and no supervisor child. The task is the session's supervisor in
OTP's terms, for a temporary child: at most `max_connections` run at once
(more are refused with 1013, try again later), and a session that crashes
is logged once and closes its own connection, nothing else (an exception
escaping the task would end the gateway). Cancelling the gateway cancels
every session.

Admission happens at three doors, cheapest first. At accept, the peer's
address must be under its caps of connections in their handshake and not
yet authenticated (`PeerCounts`); if not, the connection is answered
HTTP 503 and closed before any handshake work (under TLS, closed at once:
an answer would take the very TLS handshake the cap is there to spare).
A connection speaking plain HTTP stays "in its handshake" for its whole
life: it is anyone's, so the same cap bounds what one address holds of
them, and each of its heads has the handshake's time-out. After the
handshake, the node must have room (`max_connections`, itself
bounded by the open files limit, raised to the hard limit at start) and not
be draining, or it closes with 1013. At `auth`, the user's actor applies the
per-device and per-user caps (`_grants.py`).

With a TLS context the listener serves `wss://` and `https://`: each
accepted stream is wrapped in a `trio.SSLStream` before its first request
is read, and `handshake_timeout` bounds the TLS handshake, the first head
and the WebSocket's answer together.

One task ticks every session (`_tick_sessions`): idle devices, connections
that never authenticate and closes that do not get through in time are all
found by that clock, not by a watchdog task per connection.
"""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from protocol import ByeReason

from ._accounts import Accounts
from ._admission import (
    PeerCounts,
    PeerRefused,
    PeerTicket,
    Remote,
    connection_budget,
    peer_key,
    raise_descriptor_limit,
)
from ._handlers import Handlers
from ._http import HttpServer, Replayed, discard_until_closed
from ._security import SecurityEvent
from ._services import Services
from ._session import DeviceSession
from ._web import HttpLimits

log = logging.getLogger(__name__)

#: WebSocket close code for "try again later" (RFC 6455 registry).
TRY_AGAIN_LATER = 1013

_TURNED_AWAY_BODY = b"too many connections from this address, try again later\n"

#: The answer to a connection over its address's caps, written before its
#: request is read (a server may answer early; RFC 9112 9.3).
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Retry-After: 1\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n\r\n%s" % (len(_TURNED_AWAY_BODY), _TURNED_AWAY_BODY)
)


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The TLS context of a node serving `wss://` with this certificate chain and key (PEM files).

    Python's defaults for a server (TLS 1.2 and later, its cipher choice);
    raises OSError (ssl.SSLError, FileNotFoundError, ...) if they cannot be loaded.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


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
        max_handshakes_per_ip: int,
        max_unauthenticated_per_ip: int,
        handshake_timeout: float,
        tls: ssl.SSLContext | None,
        close_grace: float,
        page_reads: int,
        web_root: Path | None,
        http: HttpLimits,
        vapid_key: bytes | None = None,
    ) -> None:
        self._services = services
        self._accounts = accounts
        self._handlers = handlers
        self._host = host
        self._port = port
        self._configured_connections = max_connections
        # What the open files limit allows of it, from `run` on.
        self.max_connections = max_connections
        self._peers = PeerCounts(max_handshakes_per_ip, max_unauthenticated_per_ip)
        self._handshake_timeout = handshake_timeout
        self._tls = tls
        self._close_grace = close_grace
        self._page_reads = page_reads
        self._listener = trio.CancelScope()
        self._web_root = web_root
        self._http = HttpServer(
            web_root,
            http,
            head_timeout=handshake_timeout,
            close_grace=close_grace,
            draining=lambda: self._listener.cancel_called,
            vapid_key=vapid_key,
        )
        # Sessions running now: the connection limit counts them, drain and
        # the clock walk them.
        self._live: set[DeviceSession] = set()
        self._all_gone: trio.Event | None = None  # made while a drain waits for the last session
        self.port: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
        self._listener = trio.CancelScope()  # a fresh one per run: a scope is entered once
        descriptors = raise_descriptor_limit()
        self.max_connections = connection_budget(self._configured_connections, descriptors)
        log.info("accepting at most %d connections (open files limit %s)", self.max_connections, descriptors)
        if self._web_root is None:
            log.info("serving no web client")
        elif self._web_root.is_dir():
            log.info("serving the web client from %s", self._web_root)
        else:
            log.warning("no web client at %s: it is not built (HTTP requests get 404 until it is)", self._web_root)
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

    @property
    def peers(self) -> PeerCounts:
        """Connections per peer address in their handshake and unauthenticated (read, don't change)."""
        return self._peers

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
        """One TCP connection: counted under its peer's address, or turned away."""
        try:
            host, port, *_ = stream.socket.getpeername()
        except OSError:  # gone before it was looked at
            await trio.aclose_forcefully(stream)
            return
        remote = Remote(host, port)
        key = peer_key(host)
        ticket = self._peers.open(key, trio.current_time())
        if isinstance(ticket, PeerRefused):
            self._services.security.record(
                SecurityEvent.CONNECTION_REFUSED, cap=f"{ticket.cap}_per_ip", limit=ticket.limit, peer=key
            )
            try:
                await self._turn_away(stream)
            finally:
                await trio.aclose_forcefully(stream)
            return
        try:
            await self._serve(stream, ticket, remote)
        finally:
            ticket.close()

    async def _serve(self, stream: trio.SocketStream, ticket: PeerTicket, remote: Remote) -> None:
        """TLS, HTTP until a request opens the chat, the WebSocket handshake, then the device's session.

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
                if ws is not None:
                    ticket.handshaken()
                if ws is not None and await self._admitted(ws, remote):
                    session = DeviceSession(
                        ws,
                        self._services,
                        self._accounts,
                        self._handlers,
                        peer=ticket,
                        remote=remote,
                        close_grace=self._close_grace,
                        page_reads=self._page_reads,
                    )
                    self._live.add(session)
                    await session.run(connection)
                # Refused, the handshake failed or the connection was plain
                # HTTP: the session, which never returns, ends this scope itself.
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
        """TLS, then HTTP until a request opens the chat: its WebSocket; None if refused, gone or done."""
        deadline = trio.current_time() + self._handshake_timeout
        # A peer gone before an answer is written raises here, and one that
        # fails TLS (plain HTTP, a certificate it rejects) breaks the
        # SSLStream: either must end this connection only.
        try:
            transport: trio.abc.Stream = stream
            if self._tls is not None:
                transport = trio.SSLStream(stream, self._tls, server_side=True, https_compatible=True)
                with trio.move_on_at(deadline) as tls_handshake:
                    await transport.do_handshake()
                if tls_handshake.cancelled_caught:
                    return None
            upgrade = await self._http.serve(transport, deadline)
            if upgrade is None:
                return None
            with trio.move_on_at(upgrade.deadline):
                request = await wrap_server_stream(
                    connection,
                    Replayed(transport, upgrade.head, upgrade.early),
                    max_message_size=self._services.limits.max_message_bytes,
                )
                return await request.accept()
        except (ConnectionClosed, trio.BrokenResourceError):
            return None
        return None

    async def _turn_away(self, stream: trio.SocketStream) -> None:
        """Refuse a connection before its handshake: a 503 in plain HTTP; under TLS, nothing.

        Then wait, at most the close grace, for the peer to close, reading what it
        sent: closing with its request unread would reset the connection,
        and a reset may discard the 503 before the peer has read it.
        """
        if self._tls is not None:
            return
        with trio.move_on_after(self._close_grace):
            try:
                await stream.send_all(SERVICE_UNAVAILABLE)
            except trio.BrokenResourceError:
                return  # reset by the peer: nothing left to wait for
            await discard_until_closed(stream)

    async def _admitted(self, ws: WebSocketConnection, remote: Remote) -> bool:
        """Whether the node takes this device now; if not, it is told 1013 (try another)."""
        if self._listener.cancel_called:
            # Its handshake was under way when drain began, which has already
            # told every session it knows of.
            await self._refuse(ws, "node draining, try another")
            return False
        if len(self._live) >= self.max_connections:
            self._services.security.record(
                SecurityEvent.CONNECTION_REFUSED, cap="max_connections", limit=self.max_connections, peer=str(remote)
            )
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
