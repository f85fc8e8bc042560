"""storm: devices that missed messages all reconnect at the same instant.

Set-up (not timed): the devices connect, authenticate and learn their
cursors (`channels`), as a client does; then they all drop, and a feeder
posts `missed` messages into each of their channels. Every channel has a
feeder of its own, so no user shares a channel with thousands of others:
that would make one user actor the storm's hot spot (every device's presence
change goes to it), which is a different scenario. At one instant every
device reconnects and re-syncs exactly as the client library's `ChatClient`
does after a reconnect: connect, `auth`, `channels`, then `sync` from its
cursor, page after page, for every channel whose `last` is ahead. A device
is re-synced when it holds every message it missed; the figure is the time
from the instant until the last device is. An attempt the node refuses
(`unavailable`) or drops is made again after the client library's own
back-off (full jitter from 0.5 s, cap 30 s), and that wait is in the time.

The baseline: the same number of bare connections drop and reconnect at one
instant, and make the same three round trips (frames the size of `auth`,
`channels` and `sync`), each echoed.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial

import msgpack
import trio
import trio_websocket
from attrs import define, field, frozen

from client import Backoff, ChatError, ClientOptions, Connection

from ._fleet import Control, sleep_until_ns
from ._links import (
    CLOSE_TIMEOUT,
    CONNECT_TIMEOUT,
    LINK_LOST,
    Link,
    LinkStats,
    NodeLink,
    echo_link,
    linger,
    node_link,
    open_all,
)

CONNECT_CONCURRENCY = 32  # per worker, in set-up; the storm itself has no limit
_ECHO_FRAMES = (
    msgpack.packb({"t": "auth", "id": 1, "token": "t" * 43}),
    msgpack.packb({"t": "channels", "id": 2}),
    msgpack.packb({"t": "sync", "id": 3, "channel": 2**62, "after": 0}),
)
#: What makes one reconnection attempt fail: the node's refusal or a lost
#: connection; the baseline's handshake or connection failing.
_FAILURES = (*LINK_LOST, ChatError, OSError, trio.TooSlowError, trio_websocket.HandshakeError)
_CLIENT = ClientOptions()
STORM_ATTEMPTS = 10

Ping = Callable[[], Awaitable[None]]


@frozen
class StormDevice:
    token: str
    channel: int


@frozen
class StormResult:
    durations: array  # ns from the instant to re-synced, per device that made it
    failures: int  # devices that gave up after STORM_ATTEMPTS
    retried: dict[str, int]  # attempts refused or dropped, then made again after a back-off, by why
    short: int  # devices that re-synced fewer messages than they missed
    setup_retries: int
    first_error: str | None


@define(eq=False)
class _Tally:
    """The reconnections of one worker, and the moment the last one finished."""

    expected: int
    durations: array = field(factory=lambda: array("q"))
    failures: int = 0
    retried: dict[str, int] = field(factory=dict)
    short: int = 0
    first_error: str | None = None
    all_done: trio.Event = field(factory=trio.Event)

    def succeeded(self, duration_ns: int, short: bool) -> None:
        self.durations.append(duration_ns)
        self.short += short
        self._finished()

    def retrying(self, error: BaseException) -> None:
        why = error.code if isinstance(error, ChatError) else type(error).__name__
        self.retried[why] = self.retried.get(why, 0) + 1

    def failed(self, error: BaseException) -> None:
        self.failures += 1
        self.first_error = self.first_error or repr(error)
        self._finished()

    def _finished(self) -> None:
        if len(self.durations) + self.failures == self.expected:
            self.all_done.set()


@frozen
class StormJob:
    url: str
    on_node: bool
    devices: tuple[StormDevice, ...]  # on the node; the baseline only needs `count`
    count: int
    missed: int
    heartbeat: float

    async def run(self, ctl: Control) -> StormResult:
        rng = random.Random(ctl.worker)
        setup = LinkStats()
        cursors = await self._connect_and_drop(ctl, rng, setup)
        ctl.report("dropped")
        go = await ctl.proceed()
        tally = _Tally(self.count)
        release = trio.Event()
        async with trio.open_nursery() as held:
            await sleep_until_ns(go.at_ns)
            for index in range(self.count):
                held.start_soon(self._reconnect, index, cursors[index], go.at_ns, tally, rng, release)
            await tally.all_done.wait()
            ctl.report("synced", len(tally.durations))
            await ctl.proceed()
            release.set()
        return StormResult(
            tally.durations, tally.failures, tally.retried, tally.short, setup.retried, tally.first_error
        )

    async def _connect_and_drop(self, ctl: Control, rng: random.Random, stats: LinkStats) -> list[dict[int, int]]:
        """Connect every device, learn its cursors, then drop them all."""
        openers: list[Callable[[], AbstractAsyncContextManager[Link]]]
        if self.on_node:
            openers = [partial(node_link, self.url, device.token) for device in self.devices]
        else:
            openers = [partial(echo_link, f"{self.url}/echo") for _ in range(self.count)]
        cursors: list[dict[int, int]] = [{} for _ in range(self.count)]
        release = trio.Event()
        async with trio.open_nursery() as held:
            links = await open_all(
                held, openers, concurrency=CONNECT_CONCURRENCY, heartbeat=self.heartbeat, rng=rng, stats=stats,
                release=release, opened=ctl.progress,
            )
            if self.on_node:
                limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)

                async def learn(index: int, link: Link) -> None:
                    assert isinstance(link, NodeLink)
                    async with limiter:
                        cursors[index] = {info.channel: info.last for info in await link.conn.channels()}

                async with trio.open_nursery() as learning:
                    for index, link in enumerate(links):
                        learning.start_soon(learn, index, link)
            ctl.report("ready")
            await ctl.proceed()
            release.set()
        return cursors

    async def _reconnect(
        self, index: int, cursors: dict[int, int], at_ns: int, tally: _Tally, rng: random.Random, release: trio.Event
    ) -> None:
        """Reconnect and re-sync one device; on failure back off and try again, as ChatClient does."""
        backoff = Backoff(_CLIENT.backoff_base, _CLIENT.backoff_cap, rng)
        done = False
        while True:
            try:
                attempt = self._resynced(self.devices[index].token, cursors) if self.on_node else self._echoed()
                async with attempt as (ping, short):
                    tally.succeeded(time.monotonic_ns() - at_ns, short)
                    done = True
                    await linger(ping, self.heartbeat, rng, LinkStats(), release)
                return
            except _FAILURES as error:
                if done:
                    return  # closed by the far side after it had re-synced: that one counted
                if backoff.attempt >= STORM_ATTEMPTS:
                    tally.failed(error)
                    return
                tally.retrying(error)
            await trio.sleep(backoff.next_delay())

    @asynccontextmanager
    async def _resynced(self, token: str, cursors: dict[int, int]) -> AsyncIterator[tuple[Ping, bool]]:
        """Connected, authenticated and caught up: `channels`, then `sync` from each cursor that is behind."""
        async with Connection.open(self.url, connect_timeout=CONNECT_TIMEOUT, close_timeout=CLOSE_TIMEOUT) as conn:
            await conn.auth(token)
            fetched = 0
            for info in await conn.channels():
                after = cursors.get(info.channel, 0)
                while after < info.last:
                    page = await conn.sync(info.channel, after)
                    if not page.messages:
                        break
                    fetched += len(page.messages)
                    after = page.messages[-1].seq
            yield conn.ping, fetched < self.missed

    @asynccontextmanager
    async def _echoed(self) -> AsyncIterator[tuple[Ping, bool]]:
        """Connected to the baseline, with the three round trips of a re-sync made."""
        async with trio_websocket.open_websocket_url(
            f"{self.url}/echo", connect_timeout=CONNECT_TIMEOUT, disconnect_timeout=CLOSE_TIMEOUT
        ) as ws:
            for frame in _ECHO_FRAMES:
                await ws.send_message(frame)
                await ws.get_message()
            yield partial(ws.send_message, _ECHO_FRAMES[1]), False


async def _each_feeder(url: str, tokens: list[str], work: Callable[[int, NodeLink], Awaitable[None]]) -> None:
    """Run `work(i, link)` for every feeder, each on a connection of its own, a few at a time."""
    limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)

    async def one(index: int) -> None:
        async with limiter, node_link(url, tokens[index]) as link:
            await work(index, link)

    async with trio.open_nursery() as nursery:
        for index in range(len(tokens)):
            nursery.start_soon(one, index)


async def create_channels(url: str, feeders: list[str], members: list[list[int]], name: str) -> list[int]:
    """Feeder i makes group channel i with members[i]."""
    channels = [0] * len(feeders)

    async def create(index: int, link: NodeLink) -> None:
        channels[index] = await link.conn.group(f"{name}{index}", members[index])

    await _each_feeder(url, feeders, create)
    return channels


async def feed(
    url: str, feeders: list[str], channels: list[int], missed: int, progress: Callable[[int, int], None]
) -> None:
    """Feeder i posts `missed` messages into channel i, in order."""
    sent = 0

    async def fill(index: int, link: NodeLink) -> None:
        nonlocal sent
        for number in range(missed):
            await link.send(channels[index], f"missed {number}", f"storm-{number}")
            sent += 1
            progress(sent, len(channels) * missed)

    await _each_feeder(url, feeders, fill)
