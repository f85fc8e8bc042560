"""`ChatClient`: the durable session an app, a bot or the load generator holds.

It outlives connections: it connects, authenticates, keeps per-channel
cursors, reconnects with jittered back-off, re-fetches what it missed and
delivers every message once and in order through `events()`. The decisions
live in the sans-IO parts (CursorTracker, Backoff, EventQueue, PresenceCache);
this module only wires them to a Connection and to time.

Tasks, all below the nursery of `ChatClient.connect`:
- the supervisor: one connection after another, with back-off in between;
- per connection, in nurseries the supervisor opens: the connection's reader
  and writer, a heartbeat, and `sync_workers` sync workers. When the
  connection ends they all end with it; nothing outlives `connect`.
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
import trio
from attrs import define, field, frozen
from attrs.validators import gt

from protocol import (
    AuthResult,
    ChannelEvent,
    ChannelInfo,
    Message,
    PresenceEvent,
    Request,
    Result,
    SendResult,
    TypingEvent,
    UserPresence,
)

from ._api import SessionApi, result_of, send_request
from ._backoff import Backoff
from ._connection import Connection, EventOverflow
from ._cursors import CursorTracker, Verdict
from ._errors import (
    BadCredentials,
    BadToken,
    ChatError,
    ClientClosed,
    ConnectionLost,
    NotMember,
    Unavailable,
)
from ._events import Disconnected, Reconnected, ServerEvent
from ._nursery import background_nursery
from ._presence import PresenceCache
from ._queue import EventQueue
from ._stream import EventStream

logger = logging.getLogger(__name__)

_PRESENCE_CHUNK = 256  # users per presence request when refreshing the cache


@frozen
class TokenAuth:
    """Authenticate with the token of an existing device."""

    token: str = field(repr=False)


@frozen
class PasswordAuth:
    """Log in first, creating a device named `device`; later reconnects reuse its token."""

    username: str
    password: str = field(repr=False)
    device: str


_count = gt(0)
_seconds = gt(0.0)


@frozen
class ClientOptions:
    """Tuning of a ChatClient; the defaults suit an interactive app."""

    event_buffer: int = field(default=1024, validator=_count)
    """Messages and typing notices waiting in events(); other events may use half as much again."""
    backoff_base: float = field(default=0.5, validator=_seconds)
    """First reconnect window, seconds; it doubles per failed attempt up to backoff_cap."""
    backoff_cap: float = field(default=30.0, validator=_seconds)
    stable_after: float = field(default=30.0, validator=_seconds)
    """A connection that lasted this long resets the back-off."""
    sync_workers: int = field(default=4, validator=_count)
    """Channels brought up to date concurrently."""
    sync_page: int = field(default=100, validator=_count)
    presence_cache: int = field(default=4096, validator=_count)
    max_in_flight: int = field(default=256, validator=_count)
    connect_timeout: float = field(default=10.0, validator=_seconds)
    close_timeout: float = field(default=5.0, validator=_seconds)
    max_message_size: int = field(default=64 * 2**20, validator=_count)
    ssl_context: ssl.SSLContext | None = None
    """Verifies a ``wss://`` node; None trusts the system's CAs."""


@define(eq=False)
class ChatClient(SessionApi):
    """A chat session that survives disconnects. Create it with `ChatClient.connect`.

    Requests wait for a connection while the client is reconnecting (bound
    them with trio.move_on_after if needed). Requests that are safe to repeat
    (send with its cid, sync, read, ...) are retried on the next connection,
    and after a back-off when the node answers `unavailable`; the others
    (group, invite, leave, typing, revoke, logout) raise ConnectionLost when
    the connection drops under them, and Unavailable. Once the client has
    stopped, every request raises ClientClosed.
    """

    _url: str
    _credentials: TokenAuth | PasswordAuth
    _options: ClientOptions
    _tracker: CursorTracker
    _backoff: Backoff
    _presence: PresenceCache
    _stream: EventStream
    # Woken when a connection comes or goes, or the client stops.
    _changed: trio.lowlevel.ParkingLot = field(factory=trio.lowlevel.ParkingLot)
    _work: trio.lowlevel.ParkingLot = field(factory=trio.lowlevel.ParkingLot)  # a channel fell behind
    _conn: Connection | None = None
    _session: AuthResult | None = None
    _token: str | None = None
    _stopping: bool = False
    _fatal: ChatError | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str,
        credentials: TokenAuth | PasswordAuth,
        *,
        options: ClientOptions | None = None,
        cursors: Mapping[int, int] | None = None,
        rng: random.Random | None = None,
    ) -> AsyncIterator[ChatClient]:
        """Connect and authenticate, then keep the session up until the block exits.

        The first connection must succeed: its ConnectionLost or ChatError
        (e.g. BadCredentials) is raised from here. Later ones are retried.
        `cursors` resumes from a `cursors()` snapshot the app persisted;
        channels without a cursor are delivered from their first message.
        `rng` drives the back-off jitter (seed it for a reproducible run).
        """
        options = ClientOptions() if options is None else options
        client = cls(
            url,
            credentials,
            options,
            CursorTracker.starting_at({} if cursors is None else cursors),
            Backoff(options.backoff_base, options.backoff_cap, random.Random() if rng is None else rng),
            PresenceCache(options.presence_cache),
            EventStream(EventQueue(options.event_buffer, options.event_buffer // 2)),
            token=credentials.token if isinstance(credentials, TokenAuth) else None,
        )
        async with background_nursery() as nursery:
            await nursery.start(client._supervise)
            try:
                yield client
            finally:
                client._stopping = True
                # Before cancelling: the connection's reader must still run to
                # take the node's close reply, or aclose waits close_timeout.
                if client._conn is not None:
                    await client._conn.aclose("the client stopped")
                nursery.cancel_scope.cancel()

    # -- what the app reads ---------------------------------------------------

    def events(self) -> EventStream:
        """Every event, for one consumer: `async for event in client.events()`.

        Each channel's messages arrive once each, in seq order, whether live
        or fetched after a gap or a reconnect; messages sent by this client's
        own send() are left out, the app has them. Ends when the client stops
        (raising ClientClosed if the node refused its credentials).
        """
        return self._stream

    @property
    def session(self) -> AuthResult:
        """User, device and heartbeat of the current (or last) authentication."""
        assert self._session is not None, "connect() authenticates before it returns"
        return self._session

    @property
    def user(self) -> int:
        return self.session.user

    @property
    def device(self) -> int:
        return self.session.device

    @property
    def token(self) -> str:
        """This device's token: persist it to resume with TokenAuth instead of creating devices."""
        assert self._token is not None, "connect() logs in before it returns"
        return self._token

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def cursors(self) -> dict[int, int]:
        """Per channel, the highest seq up to which the app has every message: persist it for `connect(cursors=)`."""
        return self._tracker.snapshot()

    def presence_of(self, user: int) -> UserPresence | None:
        """The cached presence of `user` (from presence events and replies), None if never seen."""
        return self._presence.get(user)

    # -- requests ---------------------------------------------------------------

    async def request(self, request: Request) -> Result | None:
        retries = Backoff(self._options.backoff_base, self._options.backoff_cap, self._backoff.rng)
        while True:
            conn = await self._connection()
            try:
                return await conn.request(request)
            except ConnectionLost:
                if not request.IDEMPOTENT:
                    raise
            except Unavailable as refused:
                # A draining node or a store briefly down: a request safe to
                # repeat waits (jittered, growing) and goes again, on the next
                # connection if this one is ending.
                if not request.IDEMPOTENT:
                    raise
                await trio.sleep(retries.next_delay(floor=(refused.retry or 0) / 1000))

    async def send(
        self, channel: int, body: str, cid: str | None = None, *, mentions: Iterable[int] = ()
    ) -> SendResult:
        """Store a message; retried with the same cid across reconnects, so it is stored once."""
        request = send_request(channel, body, cid, mentions)
        self._tracker.sending(channel, request.cid)
        seq = None
        try:
            sent = result_of(await self.request(request), SendResult)
            seq = sent.seq
            return sent
        finally:
            self._tracker.sent(channel, request.cid, seq)

    async def presence(self, users: Iterable[int]) -> tuple[UserPresence, ...]:
        """Ask the node, and update the presence cache."""
        infos = await super().presence(users)
        self._presence.update(infos)
        return infos

    async def leave(self, channel: int) -> None:
        await super().leave(channel)
        self._tracker.forget(channel)

    async def logout(self) -> None:
        """Revoke this device's token and stop the client; events() ends."""
        conn = await self._connection()
        self._stopping = True  # before the node closes, so the supervisor does not reconnect
        try:
            await conn.logout()
        finally:
            await conn.aclose("logged out")

    # -- the supervisor ------------------------------------------------------------

    async def _supervise(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        try:
            while not self._stopping:
                up_since: float | None = None
                reason, floor = "closed", 0.0
                try:
                    async with self._open() as conn:
                        channels = await self._handshake(conn)
                        up_since = trio.current_time()
                        self._set_connection(conn)
                        if started:
                            self._stream.post(Reconnected(channels))
                        else:
                            started = True
                            task_status.started()
                        await self._serve(conn)
                        reason = conn.close_reason or reason
                        floor = conn.bye.retry / 1000 if conn.bye is not None and conn.bye.retry else 0.0
                except (BadToken, BadCredentials) as exc:
                    if not started:
                        raise
                    logger.warning("credentials refused, stopping: %s", exc)
                    self._fatal = exc
                    return
                except (ConnectionLost, ChatError) as exc:
                    if not started:
                        raise
                    reason, floor = str(exc), 0.0
                finally:
                    self._set_connection(None)
                if self._stopping:
                    return
                if up_since is not None and trio.current_time() - up_since >= self._options.stable_after:
                    self._backoff.reset()
                delay = self._backoff.next_delay(floor)
                logger.info("disconnected (%s); reconnecting in %.2fs", reason, delay)
                if up_since is not None:
                    self._stream.post(Disconnected(reason, delay))
                await trio.sleep(delay)
        finally:
            self._stopping = True
            self._stream.close(self._fatal)
            self._changed.unpark_all()

    def _open(self) -> AbstractAsyncContextManager[Connection]:
        o = self._options
        return Connection.open(
            self._url,
            on_event=self._on_event,
            max_in_flight=o.max_in_flight,
            connect_timeout=o.connect_timeout,
            close_timeout=o.close_timeout,
            max_message_size=o.max_message_size,
            ssl_context=o.ssl_context,
        )

    async def _handshake(self, conn: Connection) -> tuple[ChannelInfo, ...]:
        """Authenticate, then learn how far each channel goes and refresh what events were missed."""
        if self._token is None:
            assert isinstance(self._credentials, PasswordAuth)
            c = self._credentials
            self._token = (await conn.login(c.username, c.password, c.device)).token
        self._session = await conn.auth(self._token)
        self._tracker.device = self._session.device
        channels = await conn.channels()
        self._tracker.observe(channels)
        users = self._presence.users()
        for start in range(0, len(users), _PRESENCE_CHUNK):
            self._presence.update(await conn.presence(users[start : start + _PRESENCE_CHUNK]))
        return channels

    async def _serve(self, conn: Connection) -> None:
        """Keep `conn` alive and caught up until it closes."""
        assert self._session is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat, conn, self._session.heartbeat)
            for _ in range(self._options.sync_workers):
                nursery.start_soon(self._sync_worker, conn)
            await conn.wait_closed()
            nursery.cancel_scope.cancel()

    def _set_connection(self, conn: Connection | None) -> None:
        self._conn = conn
        self._changed.unpark_all()

    async def _connection(self) -> Connection:
        while True:
            if self._stopping:
                raise ClientClosed("the client has stopped") from self._fatal
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            await self._changed.park()

    # -- per connection ------------------------------------------------------------

    async def _heartbeat(self, conn: Connection, interval: float) -> None:
        """Ping as the node asks; a node that does not answer within two intervals is dead to us."""
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(2 * interval) as deadline:
                try:
                    await conn.ping()
                except ConnectionLost:
                    return
                except ChatError:
                    pass  # an answer all the same: the node is alive
            if deadline.cancelled_caught:
                await conn.aclose(f"no answer to ping within {2 * interval:g}s")
                return

    async def _sync_worker(self, conn: Connection) -> None:
        while True:
            channel = self._tracker.claim()
            if channel is None:
                await self._work.park()
                continue
            try:
                await self._catch_up(conn, channel)
            except NotMember:
                self._tracker.forget(channel)
            except ConnectionLost:
                return  # the connection ended (or the client stopped); the next one resyncs
            except ChatError as exc:
                # Transient trouble on the node: reconnecting backs off and resyncs.
                await conn.aclose(f"sync of channel {channel} failed: {exc}")
                return
            finally:
                self._tracker.release(channel)

    async def _catch_up(self, conn: Connection, channel: int) -> None:
        """Deliver `channel`'s messages past its cursor, page by page, waiting for room in events()."""
        while True:
            after = self._tracker.cursor(channel)
            page = await conn.sync(channel, after, self._options.sync_page)
            for msg in page.messages:
                verdict = self._tracker.on_synced(msg)
                if verdict is Verdict.FETCH:
                    break
                if verdict is Verdict.DELIVER:
                    await self._stream.put(msg)
                    self._tracker.delivered(msg)
            if not self._tracker.page_done(channel, after, page.more):
                return

    def _on_event(self, event: ServerEvent) -> None:
        """Called by the reader for every event; never waits (see EventQueue for what happens when full)."""
        if isinstance(event, Message):
            verdict = self._tracker.on_live(event)
            if verdict is Verdict.DELIVER:
                if self._stream.offer(event, control=False):
                    self._tracker.delivered(event)
                    return
                self._tracker.undelivered(event)
            if self._tracker.wants_sync:
                self._work.unpark_all()
            return
        if isinstance(event, TypingEvent):
            self._stream.offer(event, control=False)  # dropped when the app is behind: it would be stale
            return
        if isinstance(event, PresenceEvent):
            self._presence.update([event.presence])
        elif isinstance(event, ChannelEvent) and self.user not in event.members:
            self._tracker.forget(event.channel)  # removed from it
        if not self._stream.offer(event, control=True):
            raise EventOverflow("the app is too far behind on events()")
