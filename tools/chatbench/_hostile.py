"""abuse, the workers' side: hostile clients, and a real user logging in beside them.

The hostile clients speak raw frames over trio-websocket, because they send
what no well-behaved client would: requests they never read the answers to,
maps of 160,000 keys before `auth`, one wrong password after another, more
sends than any limit allows, groups no one asked to join. They connect from
`address` (127.0.0.2 by default: on Linux all of 127/8 is the loopback), so a
node's per-address limits can tell them from the innocent pairs and the real
user, who connect from the default 127.0.0.1.

An attack is a frozen plan handed to a worker. Its `run` sets up its clients,
calls `ready` (the bench's go-ahead, which every worker gets at one instant)
and attacks until the window ends. Whatever the node does to it (answers,
throttles, closes, refuses) is counted, never raised: telling what the node
did is the point. A client the node closes connects again after
RECONNECT_PAUSE, as an attacker would. Every wait ends with the window, or
soon after it for what is measured once the attack is over.
"""

from __future__ import annotations

import itertools
import socket
import string
import time
from array import array
from collections.abc import Awaitable, Callable, Iterable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import msgpack
import trio
import trio_websocket
from attrs import define, field, frozen
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection

from client import ChatError, Connection, ConnectionLost

from ._fleet import Control, sleep_until_ns

CONNECT_TIMEOUT = 10.0
#: Seconds a client the node closed or refused waits before it connects again.
RECONNECT_PAUSE = 0.01
#: Largest WebSocket message a hostile client takes: more than any node sends,
#: so that a `channels` reply over the protocol's 1 MiB can be measured.
MAX_MESSAGE = 64 << 20
#: Seconds the victim of the group spam has to list its channels after the attack.
LISTING_TIMEOUT = 60.0
LISTING_PAGE = 500
#: Seconds a real user's login may take before the probe gives up on it; it
#: then counts as having taken that long (at the least).
LOGIN_TIMEOUT = 30.0
#: A code point of four UTF-8 bytes: the largest body a message may have in bytes.
WIDE_CHAR = "\U0001f600"
TCP_ESTABLISHED = 1

#: What the node can do to a hostile client's connection: close or reset it,
#: refuse the handshake, or not answer it in time.
LOST = (
    ConnectionClosed, HandshakeError, OSError, trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError,
)  # fmt: skip


@define
class Counts:
    """What one side of a sub-run counted, by name: replies by code, events by type, and so on."""

    values: dict[str, int] = field(factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + n

    def most(self, key: str, value: int) -> None:
        self.values[key] = max(self.values.get(key, 0), value)


@frozen
class Window:
    """The instants of a sub-run (monotonic ns): the attack from `go_ns`, measured over [start_ns, end_ns)."""

    go_ns: int
    start_ns: int
    end_ns: int

    def left(self) -> float:
        return max(0.0, (self.end_ns - time.monotonic_ns()) / 1e9)


Ready = Callable[[], Awaitable[Window]]
Task = Callable[[], Awaitable[None]]


@define(eq=False)
class Start:
    """The sub-run's window, for the tasks that wait for the bench's go-ahead."""

    window: Window | None = None
    given: trio.Event = field(factory=trio.Event)

    def give(self, window: Window) -> None:
        self.window = window
        self.given.set()

    async def wait(self) -> Window:
        await self.given.wait()
        assert self.window is not None
        return self.window


@define(eq=False)
class Raw:
    """One hostile socket: its WebSocket, and the TCP stream under it, to drop it or to ask TCP about it."""

    ws: WebSocketConnection
    stream: trio.SocketStream
    ids: Iterator[int] = field(factory=lambda: itertools.count(1))
    last_size: int = 0  # bytes of the last message read

    async def send(self, **fields: Any) -> int:
        fields.setdefault("id", next(self.ids))
        await self.ws.send_message(msgpack.packb(fields))
        return int(fields["id"])

    async def next_frame(self) -> dict[str, Any]:
        data = await self.ws.get_message()
        self.last_size = len(data)
        frame = msgpack.unpackb(data)
        return frame if isinstance(frame, dict) else {}

    async def call(self, **fields: Any) -> dict[str, Any]:
        """Send a request and return its reply, skipping the events before it."""
        request = await self.send(**fields)
        while True:
            frame = await self.next_frame()
            if frame.get("id") == request and frame.get("t") in ("ok", "err"):
                return frame

    def established(self) -> bool:
        """Whether TCP still has the connection open both ways (the node neither closed nor reset it)."""
        try:
            info = self.stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        except OSError:
            return False
        return info[0] == TCP_ESTABLISHED

    async def drop(self) -> None:
        """Close the socket without a close handshake: the end of every hostile connection."""
        await trio.aclose_forcefully(self.stream)


async def connect(nursery: trio.Nursery, url: str, address: str | None) -> Raw:
    """A WebSocket to `url` from `address` (None: the system's choice); its reader runs in `nursery`.

    The reader hands each message on only when someone reads it (a queue of
    0), so a client that never reads stops reading the socket at its first
    message, and the node's replies pile up in the node.
    """
    target = urlsplit(url)
    assert target.hostname is not None and target.port is not None
    with trio.fail_after(CONNECT_TIMEOUT):
        stream = await trio.open_tcp_stream(target.hostname, target.port, local_address=address)
        try:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, target.hostname, target.path or "/", message_queue_size=0,
                max_message_size=MAX_MESSAGE, receive_buffer_size=None,
            )  # fmt: skip
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    return Raw(ws, stream)


async def expect_ok(raw: Raw, **fields: Any) -> dict[str, Any]:
    """A set-up request, which must succeed: the attack cannot be made otherwise."""
    reply = await raw.call(**fields)
    if reply["t"] != "ok":
        raise RuntimeError(f"set-up request {fields.get('t')!r} answered {reply}")
    return reply


async def authenticated(nursery: trio.Nursery, url: str, address: str | None, token: str) -> Raw:
    raw = await connect(nursery, url, address)
    await expect_ok(raw, t="auth", token=token)
    return raw


async def pipeline(raw: Raw, frames: Iterable[dict[str, Any]], in_flight: int, counts: Counts) -> None:
    """Send `frames`, `in_flight` unanswered at most, until they run out (and are all answered) or the node closes.

    Counts every reply by its code (`ok`, `rate_limited`, ...), every event by
    its type (`event_msg`, ...), what was `sent`, and the connection `closed`.
    """
    slots = trio.Semaphore(in_flight)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_count_replies, raw, slots, counts, nursery.cancel_scope)
        try:
            for fields in frames:
                await slots.acquire()
                await raw.send(**fields)
                counts.add("sent")
            for _ in range(in_flight):
                await slots.acquire()  # every reply is in
        except LOST:
            pass  # the reader sees it too, and counts it
        nursery.cancel_scope.cancel()


async def _count_replies(raw: Raw, slots: trio.Semaphore, counts: Counts, scope: trio.CancelScope) -> None:
    try:
        while True:
            frame = await raw.next_frame()
            kind = frame.get("t")
            if kind == "ok" or kind == "err":
                counts.add("ok" if kind == "ok" else str(frame.get("code")))
                slots.release()
            else:
                counts.add(f"event_{kind}")
    except LOST:
        counts.add("closed")
    scope.cancel()


async def _until_window_end(window: Window, tasks: Iterable[Task]) -> None:
    """Run the attack's tasks until the window ends (those that finish sooner are done)."""
    with trio.move_on_after(window.left()):
        async with trio.open_nursery() as nursery:
            for task in tasks:
                nursery.start_soon(task)
            await trio.sleep_forever()


# -- the attacks ---------------------------------------------------------------------


@frozen
class NeverReading:
    """Authenticated clients that each ask `syncs` pages of large messages and never read a reply.

    Set-up: each makes a group of its own and posts `large` messages of
    `large_chars` 4-byte characters into it (400 KB each at the body limit),
    so that every `sync` from 0 answers with a page as large as the node
    makes them. Counts `syncs_sent` and, at the window's end,
    `open_at_end`: the clients whose TCP connection the node had not closed.
    """

    tokens: tuple[str, ...]
    syncs: int
    large: int
    large_chars: int

    async def run(self, url: str, address: str, ready: Ready, counts: Counts) -> None:
        async with trio.open_nursery() as held:
            clients = []
            for token in self.tokens:
                raw = await authenticated(held, url, address, token)
                channel = (await expect_ok(raw, t="group", name="never-reading", members=[]))["channel"]
                for number in range(self.large):
                    await expect_ok(raw, t="send", channel=channel, body=WIDE_CHAR * self.large_chars, cid=f"large-{number}")
                clients.append((raw, channel))
            window = await ready()
            await _until_window_end(window, [partial(self._ask, raw, channel, counts) for raw, channel in clients])
            counts.add("open_at_end", sum(raw.established() for raw, _ in clients))
            for raw, _ in clients:
                await raw.drop()
            held.cancel_scope.cancel()

    async def _ask(self, raw: Raw, channel: int, counts: Counts) -> None:
        try:
            for _ in range(self.syncs):
                await raw.send(t="sync", channel=channel, after=0)
                counts.add("syncs_sent")
        except LOST:
            counts.add("closed")


def maximal_map(keys: int) -> bytes:
    """A `ping` carrying a map of `keys` distinct keys, as short as they can be (~5 bytes an entry)."""
    alphabet = string.ascii_letters + string.digits
    names = ("".join(chars) for size in itertools.count(1) for chars in itertools.product(alphabet, repeat=size))
    return msgpack.packb({"t": "ping", "id": 1, "pad": dict.fromkeys(itertools.islice(names, keys), 0)})


@frozen
class MaximalMaps:
    """`senders` unauthenticated clients, each sending one maximal map after another, as fast as the node takes them.

    Counts `maps_sent`, `connections` made, replies by code, the
    connections the node `closed` or `refused`; each client then connects again.
    """

    senders: int
    keys: int

    async def run(self, url: str, address: str, ready: Ready, counts: Counts) -> None:
        frame = maximal_map(self.keys)
        counts.add("map_bytes", len(frame))
        window = await ready()
        await _until_window_end(window, [partial(self._send_maps, url, address, frame, counts)] * self.senders)

    @staticmethod
    async def _send_maps(url: str, address: str, frame: bytes, counts: Counts) -> None:
        while True:
            try:
                async with trio.open_nursery() as held:
                    # A handshake the node refuses (HTTP 503) raises from
                    # the connection's reader, in `held`.
                    raw = await connect(held, url, address)
                    counts.add("connections")
                    held.start_soon(_discard, raw, counts, held.cancel_scope)
                    try:
                        while True:
                            await raw.ws.send_message(frame)
                            counts.add("maps_sent")
                    except LOST:
                        pass
                    finally:
                        await raw.drop()
                    # Here only when the node ended the connection: the
                    # window's end cancels this task instead.
                    counts.add("closed")
                    held.cancel_scope.cancel()
            except* LOST:
                counts.add("refused")
            await trio.sleep(RECONNECT_PAUSE)


async def _discard(raw: Raw, counts: Counts, scope: trio.CancelScope) -> None:
    """Read and count whatever the node answers, until it closes; then stop the sender."""
    try:
        while True:
            frame = await raw.next_frame()
            counts.add(str(frame.get("code", frame.get("t"))))
    except LOST:
        scope.cancel()


@frozen
class Guessers:
    """`connections` unauthenticated clients guessing `username`'s password, one `login` at a time each.

    Counts replies by code: `bad_credentials` is a guess the node checked,
    `rate_limited` one it refused to check; and the connections the node
    `closed` (or `refused`), after which that client connects again.
    """

    connections: int
    username: str

    async def run(self, url: str, address: str, ready: Ready, counts: Counts) -> None:
        window = await ready()
        await _until_window_end(window, [partial(self._guess, url, address, i, counts) for i in range(self.connections)])

    async def _guess(self, url: str, address: str, index: int, counts: Counts) -> None:
        guesses = itertools.count()
        while True:
            async with trio.open_nursery() as held:
                try:
                    raw = await connect(held, url, address)
                except LOST:
                    counts.add("refused")
                else:
                    try:
                        while True:
                            password = f"wrong password {index}-{next(guesses)}"
                            reply = await raw.call(t="login", username=self.username, password=password, device="guess")
                            counts.add(str(reply.get("code", reply["t"])))
                    except LOST:
                        counts.add("closed")
                    finally:
                        await raw.drop()
                held.cancel_scope.cancel()
            await trio.sleep(RECONNECT_PAUSE)


@frozen
class Flood:
    """`connections` connections of one device sending into a group as fast as they are answered.

    `in_flight` sends unanswered per connection. The group's other member,
    an accomplice, holds as many connections of one device of its own, which
    only read: what the node delivers to them (`sink_event_msg`) is what each
    accepted send costs it in frames. Counts replies by code, `refused`
    connections (handshake or `auth`), and the flood's connections `open_at_end`.
    """

    token: str
    accomplice: str  # its device's token
    accomplice_user: int
    connections: int
    in_flight: int
    body: int

    async def run(self, url: str, address: str, ready: Ready, counts: Counts) -> None:
        async with trio.open_nursery() as held:
            clients = await self._connect(held, url, address, self.token, counts)
            sinks = await self._connect(held, url, address, self.accomplice, counts)
            if not clients:
                raise RuntimeError(f"the node refused all {self.connections} flood connections")
            reply = await expect_ok(clients[0], t="group", name="flood", members=[self.accomplice_user])
            channel = reply["channel"]
            window = await ready()
            body = "f" * self.body

            def frames(index: int) -> Iterator[dict[str, Any]]:
                for number in itertools.count():
                    yield {"t": "send", "channel": channel, "body": body, "cid": f"flood-{index}-{number}"}

            flooding = [partial(pipeline, raw, frames(index), self.in_flight, counts) for index, raw in enumerate(clients)]
            await _until_window_end(window, [*flooding, *(partial(_tally_events, sink, "sink_", counts) for sink in sinks)])
            counts.add("open_at_end", sum(raw.established() for raw in clients))
            for raw in (*clients, *sinks):
                await raw.drop()
            held.cancel_scope.cancel()

    async def _connect(self, held: trio.Nursery, url: str, address: str, token: str, counts: Counts) -> list[Raw]:
        """`connections` connections authenticated with `token`, less those the node refused."""
        clients = []
        for _ in range(self.connections):
            try:
                raw = await connect(held, url, address)
            except LOST:
                counts.add("refused")
                continue
            try:
                accepted = (await raw.call(t="auth", token=token))["t"] == "ok"
            except LOST:
                accepted = False
            if accepted:
                clients.append(raw)
            else:
                counts.add("refused")
                await raw.drop()
        return clients


async def _tally_events(raw: Raw, prefix: str, counts: Counts) -> None:
    """Read everything the node sends a client that only listens, counting it by type, until it closes."""
    try:
        while True:
            counts.add(f"{prefix}event_{(await raw.next_frame()).get('t')}")
    except LOST:
        counts.add(f"{prefix}closed")


@frozen
class GroupSpam:
    """`spammers` accounts each creating up to `groups` groups holding the victim, `in_flight` at a time.

    The victim is online meanwhile (from the innocent address) and counts
    the `channel` events it gets (`victim_event_channel`). After the window
    it lists its channels as a client honouring v1.1 does, page after page:
    `listing_pages`, `listing_channels`, the largest reply in bytes
    (`listing_bytes_max`) and the time it took (`listing_ms`).
    """

    spammers: tuple[str, ...]
    victim: str
    members: tuple[int, ...]  # the victim and the fillers: every group's members besides its creator
    groups: int
    in_flight: int

    async def run(self, url: str, address: str, ready: Ready, counts: Counts) -> None:
        async with trio.open_nursery() as held:
            victim = await authenticated(held, url, None, self.victim)
            spammers = [await authenticated(held, url, address, token) for token in self.spammers]
            window = await ready()

            def frames(index: int) -> Iterator[dict[str, Any]]:
                for number in range(self.groups):
                    yield {"t": "group", "name": f"spam {index}-{number}", "members": list(self.members)}

            spamming = [partial(pipeline, raw, frames(index), self.in_flight, counts) for index, raw in enumerate(spammers)]
            await _until_window_end(window, [partial(_tally_events, victim, "victim_", counts), *spamming])
            for raw in spammers:
                await raw.drop()
            with trio.move_on_after(LISTING_TIMEOUT) as listing:
                await self._list(victim, counts)
            if listing.cancelled_caught:
                counts.add("listing_timed_out")
            await victim.drop()
            held.cancel_scope.cancel()

    @staticmethod
    async def _list(victim: Raw, counts: Counts) -> None:
        began = time.monotonic_ns()
        after = 0
        try:
            while True:
                reply = await victim.call(t="channels", after=after, limit=LISTING_PAGE)
                counts.add("listing_pages")
                counts.most("listing_bytes_max", victim.last_size)
                if reply["t"] != "ok":
                    counts.add(f"listing_{reply.get('code')}")
                    break
                channels = reply.get("channels", [])
                counts.add("listing_channels", len(channels))
                last = max((entry["channel"] for entry in channels), default=after)
                if not reply.get("more") or last <= after:
                    break
                after = last
        except LOST:
            counts.add("victim_closed")
        counts.add("listing_ms", (time.monotonic_ns() - began) // 1_000_000)


Attack = NeverReading | MaximalMaps | Guessers | Flood | GroupSpam


# -- the job -------------------------------------------------------------------------


@frozen
class LoginProbe:
    """A real user logging in every `interval` seconds of the measured window, a different account each time.

    A different account each time, as real users are: one account's own
    logins would meet a per-account throttle. Each login is on a fresh
    connection from the default address; only the `login` request is timed.
    """

    usernames: tuple[str, ...]
    password: str
    interval: float

    async def run(self, url: str, start: Start, times: array, failures: Counts) -> None:
        window = await start.wait()
        for number, username in enumerate(self.usernames):
            at = window.start_ns + int(number * self.interval * 1e9)
            if at >= window.end_ns:
                return
            await sleep_until_ns(at)
            try:
                async with Connection.open(url, connect_timeout=CONNECT_TIMEOUT) as conn:
                    began = time.monotonic_ns()
                    with trio.move_on_after(LOGIN_TIMEOUT) as waited:
                        await conn.login(username, self.password, "probe")
                    times.append(time.monotonic_ns() - began)
                    if waited.cancelled_caught:
                        failures.add("timed_out")
            except ChatError as error:
                failures.add(error.code)
            except ConnectionLost:
                failures.add("lost")


@frozen
class HostileResult:
    counts: dict[str, int]  # the attack's
    logins: array  # ns per real login in the window (one that timed out: the time waited)
    login_failures: dict[str, int]  # real logins refused or lost, by code


@frozen
class HostileJob:
    """One sub-run's hostile side: `attack` (None: the pairs alone) from `address`, and the login probe."""

    url: str
    address: str
    attack: Attack | None
    probe: LoginProbe

    async def run(self, ctl: Control) -> HostileResult:
        start = Start()
        counts, failures = Counts(), Counts()
        logins = array("q")

        async def ready() -> Window:
            ctl.report("ready")
            go = await ctl.proceed()
            start.give(Window(go.at_ns, *go.data))
            await sleep_until_ns(go.at_ns)
            return await start.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.probe.run, self.url, start, logins, failures)
            if self.attack is None:
                await trio.sleep((await ready()).left())
            else:
                await self.attack.run(self.url, self.address, ready, counts)
        return HostileResult(counts.values, logins, failures.values)
