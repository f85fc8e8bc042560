"""ChatClient against a real node, on each store: cursors, re-sync, retries, heartbeats, presence.

Connection trouble comes from a TCP relay between the client and the node:
real sockets both ways, which the test cuts, or makes hold back what the node
sends, the way a network fails. The last test is the node's side of a slow
network: a device that stops reading is cut off while the others keep up.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio
import trio.testing
from attrs import define, field
from trio_websocket import ConnectionClosed, open_websocket_url

from actors import Node
from protocol import Limits
from client import (
    ByeEvent,
    ChatClient,
    ClientEvent,
    ClientOptions,
    Connection,
    Disconnected,
    Message,
    PresenceEvent,
    Reconnected,
    SendResult,
    TokenAuth,
    UserPresence,
)
from storage import EmbeddedStore

from ..conftest import OpenStore
from . import raw
from .conftest import node_config
from .people import messages, new_device, online, sign_up, username

#: Reconnect within a fraction of a second, so that tests need not wait for the back-off.
QUICK_RECONNECT = ClientOptions(backoff_base=0.05, backoff_cap=0.2)

#: Pings every second; two silent seconds and the node closes the device.
SHORT_HEARTBEAT = Limits(heartbeat=1, idle_heartbeats=2)


def _flowing() -> trio.Event:
    event = trio.Event()
    event.set()
    return event


@define(eq=False)
class Relay:
    """The network between clients and the node, in the test's hands.

    Bytes pass unchanged both ways. `hold_replies` stops what the node sends
    (replies lost in flight); `cut` drops every link at once; `go_down` also
    stops listening, so that connecting is refused, until `come_back`.
    """

    node_url: str
    port: int = 0
    _links: set[trio.CancelScope] = field(factory=set)
    _from_node: trio.Event = field(factory=_flowing)
    _nursery: trio.Nursery | None = None
    _listening: trio.CancelScope | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{urlsplit(self.node_url).path}"

    async def run(self, *, task_status: trio.TaskStatus[Relay] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.come_back()
            task_status.started(self)
            await trio.sleep_forever()

    def hold_replies(self) -> None:
        """Pass nothing from the node on, until the next `cut`."""
        self._from_node = trio.Event()

    def cut(self) -> None:
        """Close both sockets of every link now; links made later flow freely."""
        for link in self._links:
            link.cancel()
        self._from_node.set()

    def go_down(self) -> None:
        """Cut every link and close the port: connecting is refused."""
        assert self._listening is not None
        self._listening.cancel()
        self.cut()

    async def come_back(self) -> None:
        """Listen (again, on the same port)."""
        assert self._nursery is not None
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        self._listening = await self._nursery.start(self._accept, listeners)

    async def _accept(
        self, listeners: list[trio.SocketListener], *, task_status: trio.TaskStatus[trio.CancelScope]
    ) -> None:
        assert self._nursery is not None
        with trio.CancelScope() as listening:
            task_status.started(listening)
            # Links live in the relay's nursery: closing the port leaves them be.
            await trio.serve_listeners(self._link, listeners, handler_nursery=self._nursery)

    async def _link(self, client: trio.SocketStream) -> None:
        target = urlsplit(self.node_url)
        assert target.hostname is not None and target.port is not None
        async with client:
            with trio.CancelScope() as link:
                self._links.add(link)
                try:
                    async with await trio.open_tcp_stream(target.hostname, target.port) as node:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._pump, client, node, False, link)
                            nursery.start_soon(self._pump, node, client, True, link)
                finally:
                    self._links.discard(link)

    async def _pump(
        self, source: trio.SocketStream, sink: trio.SocketStream, from_node: bool, link: trio.CancelScope
    ) -> None:
        try:
            async for chunk in source:
                if from_node:
                    await self._from_node.wait()
                await sink.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        link.cancel()  # one side is gone: so is the link


async def take(client: ChatClient, count: int, timeout: float = 10.0) -> tuple[list[Message], list[ClientEvent]]:
    """The next `count` messages of events(), and the other events met on the way."""
    found: list[Message] = []
    others: list[ClientEvent] = []
    with trio.fail_after(timeout):
        async for event in client.events():
            if isinstance(event, Message):
                found.append(event)
                if len(found) == count:
                    return found, others
            else:
                others.append(event)
    raise AssertionError(f"events() ended after {len(found)} of {count} messages")


async def next_of(client: ChatClient, kind: type, timeout: float = 10.0) -> ClientEvent:
    """The next event of `kind`, skipping others."""
    with trio.fail_after(timeout):
        async for event in client.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"events() ended before a {kind.__name__}")


def kinds(events: Sequence[ClientEvent]) -> set[type]:
    return {type(event) for event in events}


async def test_resuming_from_saved_cursors_delivers_exactly_what_was_missed(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    phone = await new_device(node.url, bob)
    async with online(node.url, await new_device(node.url, alice)) as a:
        channel = await a.direct(bob.user)
        for i in range(3):
            await a.send(channel, f"before {i}")
        async with ChatClient.connect(node.url, TokenAuth(phone.token)) as b:
            before, _ = await take(b, 3)
            saved = b.cursors()
        assert [(m.seq, m.body) for m in before] == [(i + 1, f"before {i}") for i in range(3)]
        assert saved == {channel: 3}

        for i in range(10):
            await a.send(channel, f"away {i}")
        async with ChatClient.connect(node.url, TokenAuth(phone.token), cursors=saved) as b:
            missed, _ = await take(b, 10)
            # Had anything come twice, it would be the next message, not this.
            await a.send(channel, "fence")
            (fence,), _ = await take(b, 1)
            assert b.cursors() == {channel: 14}
    assert [(m.seq, m.body) for m in missed] == [(i + 4, f"away {i}") for i in range(10)]
    assert (fence.seq, fence.body) == (14, "fence")


@asynccontextmanager
async def alice_and_bob_behind(relay: Relay, node: Node) -> AsyncIterator[tuple[Connection, ChatClient, int]]:
    """Alice on the node directly, Bob's ChatClient through `relay`, and their direct channel."""
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    phone = await new_device(node.url, bob)
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        ChatClient.connect(relay.url, TokenAuth(phone.token), options=QUICK_RECONNECT) as b,
    ):
        yield a, b, await a.direct(bob.user)


async def test_after_a_reconnect_what_was_missed_arrives_once_and_in_order(node: Node, nursery: trio.Nursery) -> None:
    relay = await nursery.start(Relay(node.url).run)
    async with alice_and_bob_behind(relay, node) as (a, b, channel):
        for i in range(3):
            await a.send(channel, f"live {i}")
        live, _ = await take(b, 3)

        relay.go_down()
        await next_of(b, Disconnected)
        for i in range(10):
            await a.send(channel, f"away {i}")  # bob cannot get back meanwhile
        await relay.come_back()
        missed, on_the_way = await take(b, 10)
        await a.send(channel, "fence")
        (fence,), _ = await take(b, 1)
    assert [m.seq for m in live] == [1, 2, 3]
    assert Reconnected in kinds(on_the_way)
    assert [(m.seq, m.body) for m in missed] == [(i + 4, f"away {i}") for i in range(10)]
    assert fence.seq == 14


async def test_a_send_whose_reply_is_lost_is_retried_after_reconnecting_and_stored_once(
    node: Node, nursery: trio.Nursery
) -> None:
    relay = await nursery.start(Relay(node.url).run)
    async with alice_and_bob_behind(relay, node) as (a, b, channel):
        relay.hold_replies()
        outcome: list[SendResult] = []

        async def send() -> None:
            outcome.append(await b.send(channel, "exactly once", cid="lost-reply"))

        async with trio.open_nursery() as sending:
            sending.start_soon(send)
            # Alice has it: it is stored, and its `ok` to bob is held back.
            (stored,) = await messages(a, 1)
            assert not outcome
            relay.cut()
        # Had the retry stored it again, alice would get that before this.
        await b.send(channel, "fence")
        (fence,) = await messages(a, 1)
        page = await a.sync(channel, 0)
        await next_of(b, Reconnected, timeout=1.0)  # there by now: the retry needed a new connection
    assert outcome == [SendResult(channel, stored.seq, stored.ts)]
    assert fence.body == "fence"
    assert [(m.cid, m.body) for m in page.messages] == [("lost-reply", "exactly once"), (fence.cid, "fence")]


@pytest.mark.parametrize("limits", [SHORT_HEARTBEAT], ids=["heartbeat-1s"])
async def test_an_idle_client_stays_connected_by_pinging_on_its_own(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    idle_for = 2.5 * node.config.limits.idle_timeout  # the node would have closed a silent device twice over
    async with ChatClient.connect(node.url, TokenAuth((await new_device(node.url, alice)).token)) as a:
        assert a.session.heartbeat == node.config.limits.heartbeat
        seen: list[ClientEvent] = []

        async def record() -> None:
            async for event in a.events():
                seen.append(event)

        async with trio.open_nursery() as watching:
            watching.start_soon(record)
            await trio.sleep(idle_for)
            watching.cancel_scope.cancel()
        assert not kinds(seen) & {ByeEvent, Disconnected, Reconnected}, seen
        assert a.connected
        await a.ping()


@pytest.mark.parametrize("limits", [SHORT_HEARTBEAT], ids=["heartbeat-1s"])
async def test_presence_of_follows_presence_events(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    phone = await new_device(node.url, bob)
    grace = node.config.limits.idle_timeout
    async with ChatClient.connect(node.url, TokenAuth((await new_device(node.url, alice)).token)) as a:
        async with ChatClient.connect(node.url, TokenAuth(phone.token)):
            await a.direct(bob.user)
            assert a.presence_of(bob.user) is None, "never seen yet"
            (asked,) = await a.presence([bob.user])
            assert asked.online
            assert a.presence_of(bob.user) == asked
        # Bob's only device is gone; after the grace alice is told, and the
        # cache says so by the time she sees the event.
        gone = await next_of(a, PresenceEvent, timeout=grace + 5)
        assert (gone.presence.user, gone.presence.online) == (bob.user, False)
        assert a.presence_of(bob.user) == UserPresence(bob.user, False, gone.presence.last)
        async with ChatClient.connect(node.url, TokenAuth(phone.token)):
            back = await next_of(a, PresenceEvent)
            assert (back.presence.user, back.presence.online) == (bob.user, True)
            assert a.presence_of(bob.user) == UserPresence(bob.user, True, back.presence.last)


#: Bodies big enough that socket buffers fill within a few hundred messages.
FLOOD_BODY = "x" * 60_000

#: A bound on the flood, not its expected size: the cut-off comes long before.
MAX_FLOOD = 2_000


def cut_off(records: Sequence[logging.LogRecord], user: int) -> bool:
    """The node's security log says it gave up on `user`'s device: the moment of the cut-off, seen from outside."""
    return any(r.getMessage().startswith("slow_consumer ") and f" user={user} " in r.getMessage() for r in records)


async def test_a_device_that_stops_reading_gets_bye_while_the_others_receive_everything(
    open_store: OpenStore, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.security")
    config = node_config(limits=Limits(max_outbound_bytes=1 << 20, send_rate=10_000, send_burst=10_000))
    async with open_store() as store:
        node = await nursery.start(Node(config, store).run)
        flooder, listener = await sign_up(node.url, "flooder"), await sign_up(node.url, "listener")
        received: list[int] = []

        async def listen(conn: Connection) -> None:
            async for event in conn.events():
                if isinstance(event, Message):
                    received.append(event.seq)

        async with (
            open_websocket_url(node.url) as stuck_ws,
            online(node.url, await new_device(node.url, flooder)) as f,
            online(node.url, await new_device(node.url, listener)) as l,
            trio.open_nursery() as listening,
        ):
            stuck = (await raw.sign_up(stuck_ws, username("stuck")))["user"]
            listening.start_soon(listen, l)
            group = await f.group("flood", [stuck, listener.user])
            # From here on the stuck device reads nothing.
            sent = 0
            with trio.fail_after(60):
                while not cut_off(caplog.records, stuck):
                    assert sent < MAX_FLOOD, "the node never gave up on a device that does not read"
                    sent = (await f.send(group, FLOOD_BODY)).seq

            # It reads again, well within the node's grace: first what was
            # queued for it, then `bye`, then the close.
            frames = []
            with trio.fail_after(10):
                try:
                    while True:
                        frames.append(await raw.next_frame(stuck_ws))
                except ConnectionClosed as closed:
                    code = closed.reason.code
            with trio.fail_after(10):
                while len(received) < sent:
                    await trio.sleep(0.05)
            listening.cancel_scope.cancel()
        await node.drain()
    assert code == 1008
    assert frames[-1]["t"] == "bye" and frames[-1]["reason"] == "slow_consumer", frames[-1]
    got = [frame["seq"] for frame in frames if frame["t"] == "msg"]
    assert got == list(range(1, len(got) + 1)), "what it was sent, it got in order"
    assert len(got) < sent, "and not the rest: it was cut off"
    assert received == list(range(1, sent + 1)), "the listener got every message, once, in order"


@pytest.fixture
def patient_autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after a real second with nothing to do,
    so the real sockets always get their turn first."""
    return trio.testing.MockClock(autojump_threshold=1.0)


async def test_a_connection_cancelled_from_outside_does_not_wait_out_its_close_timeout(
    node: Node, patient_autojump_clock: trio.testing.MockClock
) -> None:
    """Its reader is cancelled with it, so the node's close reply cannot be
    read: waiting for it would only ever end at the close timeout."""
    credentials = await new_device(node.url, await sign_up(node.url, "alice"))
    close_timeout = 5.0
    with trio.CancelScope() as outside:
        async with Connection.open(node.url, close_timeout=close_timeout) as conn:
            await conn.auth(credentials.token)
            cancelled_at = trio.current_time()
            outside.cancel()
            await trio.sleep_forever()
    assert trio.current_time() - cancelled_at < close_timeout


async def test_a_send_the_node_refuses_as_unavailable_is_retried_and_stored_once(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A backup (another connection) holds the database's write lock: the node
    answers `unavailable`, and ChatClient sends again until it is stored."""
    path = tmp_path / "chat.db"
    store = await EmbeddedStore.open(path, busy_timeout=0.05)
    node = await nursery.start(Node(node_config(), store).run)
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        ChatClient.connect(
            node.url, TokenAuth((await new_device(node.url, bob)).token), options=QUICK_RECONNECT
        ) as b,
    ):
        channel = await a.direct(bob.user)
        backup = sqlite3.connect(path, isolation_level=None)
        backup.execute("BEGIN IMMEDIATE")
        outcome: list[SendResult] = []

        async def send() -> None:
            outcome.append(await b.send(channel, "through the lock", cid="held-up"))

        async with trio.open_nursery() as sending:
            sending.start_soon(send)
            await trio.sleep(0.5)  # refused, and retried, meanwhile
            assert not outcome
            backup.execute("ROLLBACK")
            backup.close()
        page = await a.sync(channel, 0)
    await node.drain()
    await store.aclose()
    assert [(m.cid, m.seq) for m in page.messages] == [("held-up", outcome[0].seq)]
