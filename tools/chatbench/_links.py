"""One simulated device's socket, to a chat node or to the baseline server.

The scenarios are written once against `Link` and run unchanged on both:
to the node a link is the client library's `Connection`, authenticated with
the device's token, which sends `send` requests and waits for their `ok`;
to the baseline it is a bare trio-websocket connection that writes the same
msgpack frame and waits for nothing. Either way a message's body reaches
the scenario through `on_body` when it arrives at a receiving link.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, TypeVar

import msgpack
import trio
import trio_websocket
from attrs import define
from trio_websocket import ConnectionClosed

from client import Backoff, ChatError, Connection, ConnectionLost, Message, ServerEvent, Unavailable
from protocol import SendRequest

CONNECT_TIMEOUT = 60.0  # thousands of handshakes at once queue behind each other
CLOSE_TIMEOUT = 10.0
SETUP_ATTEMPTS = 8
SETUP_BACKOFF_BASE = 0.5
SETUP_BACKOFF_CAP = 8.0
OPENED_EVERY = 100  # links between progress reports

OnBody = Callable[[str], None]
L = TypeVar("L", bound="Link")


class Link(Protocol):
    async def send(self, channel: int, body: str, cid: str) -> None: ...

    async def ping(self) -> None: ...


class NodeLink:
    """A device on the node: `send` returns once the node acknowledged the message (stored)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def send(self, channel: int, body: str, cid: str) -> None:
        await self.conn.request(SendRequest(0, channel, body, cid))  # the connection numbers it

    async def ping(self) -> None:
        await self.conn.ping()


@asynccontextmanager
async def node_link(url: str, token: str, on_body: OnBody | None = None) -> AsyncIterator[NodeLink]:
    def on_event(event: ServerEvent) -> None:
        if on_body is not None and type(event) is Message:
            on_body(event.body)

    async with Connection.open(
        url, on_event=on_event, connect_timeout=CONNECT_TIMEOUT, close_timeout=CLOSE_TIMEOUT
    ) as conn:
        await conn.auth(token)
        yield NodeLink(conn)


class EchoLink:
    """A connection to the baseline server: `send` returns once the frame is written."""

    __slots__ = ("_ws", "_ids")

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, channel: int, body: str, cid: str) -> None:
        frame = {"t": "send", "id": next(self._ids), "channel": channel, "body": body, "cid": cid}
        await self._ws.send_message(msgpack.packb(frame))

    async def ping(self) -> None:
        await self._ws.send_message(msgpack.packb({"t": "ping", "id": next(self._ids)}))


@asynccontextmanager
async def echo_link(url: str, on_body: OnBody | None = None) -> AsyncIterator[EchoLink]:
    async with trio_websocket.open_websocket_url(
        url, connect_timeout=CONNECT_TIMEOUT, disconnect_timeout=CLOSE_TIMEOUT
    ) as ws:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_read_bodies, ws, on_body)
            yield EchoLink(ws)
            nursery.cancel_scope.cancel()


async def _read_bodies(ws: trio_websocket.WebSocketConnection, on_body: OnBody | None) -> None:
    try:
        while True:
            frame = msgpack.unpackb(await ws.get_message())
            body = frame.get("body")
            if on_body is not None and body is not None:
                on_body(body)
    except ConnectionClosed:
        return


#: What ends a link from the far side: the node's close, or the baseline's.
LINK_LOST = (ConnectionLost, ConnectionClosed)


@define
class LinkStats:
    """What happened to the links of one job: closed by the far side, or refused and tried again."""

    lost: int = 0  # held links the far side closed (a node drops idle or slow devices)
    retried: int = 0  # opening attempts the node answered `unavailable` or dropped, then tried again


async def beat(ping: Callable[[], Awaitable[None]], interval: float, rng: random.Random, stats: LinkStats) -> None:
    """Ping every `interval` seconds from a random phase, so thousands of devices do not ping in step.

    Returns when the far side has closed the link, counting it as lost."""
    await trio.sleep(rng.uniform(0, interval))
    try:
        while True:
            await ping()
            await trio.sleep(interval)
    except (*LINK_LOST, ChatError):
        stats.lost += 1


async def linger(
    ping: Callable[[], Awaitable[None]], interval: float | None, rng: random.Random, stats: LinkStats,
    release: trio.Event,
) -> None:  # fmt: skip
    """Keep a link open (pinging, if `interval` is given) until `release` is set.

    Links end by `release`, never by cancelling the task that holds them: a
    client `Connection` cancelled from outside loses its reader with it, so
    its close handshake cannot complete and it waits out its close timeout.
    """
    async with trio.open_nursery() as nursery:
        if interval is not None:
            nursery.start_soon(beat, ping, interval, rng, stats)
        await release.wait()
        nursery.cancel_scope.cancel()


async def _hold(
    opener: Callable[[], AbstractAsyncContextManager[L]],
    heartbeat: float | None,
    rng: random.Random,
    stats: LinkStats,
    release: trio.Event,
    *,
    task_status: trio.TaskStatus[L] = trio.TASK_STATUS_IGNORED,
) -> None:
    # An overloaded node answers `unavailable` or drops the handshake; a
    # client tries again after a back-off, and so does set-up (it is not timed).
    backoff = Backoff(SETUP_BACKOFF_BASE, SETUP_BACKOFF_CAP, rng)
    opened = False
    while True:
        try:
            async with opener() as link:
                opened = True
                task_status.started(link)
                await linger(link.ping, heartbeat, rng, stats, release)
            return
        except (*LINK_LOST, Unavailable):
            if opened or backoff.attempt >= SETUP_ATTEMPTS:
                raise
        stats.retried += 1
        await trio.sleep(backoff.next_delay())


async def open_all(
    nursery: trio.Nursery,
    openers: Sequence[Callable[[], AbstractAsyncContextManager[L]]],
    *,
    concurrency: int,
    heartbeat: float | None,
    rng: random.Random,
    stats: LinkStats,
    release: trio.Event,
    opened: Callable[[int], None] | None = None,
) -> list[L]:
    """Open every link, at most `concurrency` handshakes at a time; each stays open
    (pinging every `heartbeat` seconds, if given) in a task of `nursery` until
    `release` is set. `opened(n)` is told the count every OPENED_EVERY links and at the end."""
    links: list[L | None] = [None] * len(openers)
    limiter = trio.CapacityLimiter(concurrency)
    count = 0

    async def open_one(index: int) -> None:
        nonlocal count
        async with limiter:
            links[index] = await nursery.start(_hold, openers[index], heartbeat, rng, stats, release)
        count += 1
        if opened is not None and (count % OPENED_EVERY == 0 or count == len(openers)):
            opened(count)

    async with trio.open_nursery() as opening:
        for index in range(len(openers)):
            opening.start_soon(open_one, index)
    return [link for link in links if link is not None]
