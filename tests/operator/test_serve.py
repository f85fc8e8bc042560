"""`chatnode serve` on the embedded store: its one line, a client's round trip, SIGTERM's drain."""

from __future__ import annotations

import signal
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
import trio
from attrs import define, field

from client import ByeEvent, ChatClient, Connection, ConnectionLost, LoginResult, PasswordAuth, Unavailable, new_cid
from client import Message as ClientMessage
from client import register

from storage import EmbeddedStore

from ..node.people import PASSWORD, Person, new_device, sign_up
from ..node.test_stateful import enroll
from .chatnode import LISTENING, assert_status, run, serving, wall_clock_ms

#: Devices sending at once while SIGTERM arrives, and requests each keeps in flight.
SENDERS = 8
SENDS_IN_FLIGHT = 16

#: Sends acknowledged before SIGTERM: the burst is under way, not about to start.
ACKED_BEFORE_SIGTERM = 200

#: Devices online when a second signal cuts the drain short.
ONLINE_AT_FORCED_STOP = 100

#: The send limits are not what this is about: let the burst run at full speed.
FAST_SENDS = ["--send-rate", "10000", "--send-burst", "10000"]

#: Nor the caps per peer address: every device here connects from 127.0.0.1.
MANY_FROM_ONE_ADDRESS = ["--max-handshakes-per-ip", "1000", "--max-unauthenticated-per-ip", "1000"]


def embedded(path: Path) -> list[str]:
    return ["--port", "0", "--store", str(path)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_prints_where_it_listens_and_serves_a_client(signum: signal.Signals, tmp_path: Path) -> None:
    store = tmp_path / "chat.db"
    started_after = wall_clock_ms()
    async with serving(embedded(store), cwd=tmp_path) as node:
        (line,) = node.stdout.lines
        assert LISTENING.fullmatch(line)
        assert (node.node, node.store) == (1, f"embedded {store}")
        host, _, port = node.address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0, "the default host, and the port it picked"

        bob = await register(node.url, "bob", PASSWORD)
        await register(node.url, "alice", PASSWORD)
        async with ChatClient.connect(node.url, PasswordAuth("alice", PASSWORD, "laptop")) as alice:
            channel = await alice.direct(bob)
            sent = await alice.send(channel, "hello from a real process")
            page = await alice.sync(channel, 0)
        assert sent.seq == 1
        assert [(m.seq, m.body) for m in page.messages] == [(1, "hello from a real process")]
        live = await run("status", "--store", str(store), cwd=tmp_path)
        assert_status(live, f"embedded {store}", [node], started_after=started_after)
        status = await node.stop(signum)
    assert status == 0
    assert node.stdout.lines == [line, f"chatnode: {signum.name}, draining", "chatnode: stopped"]
    # Stopped cleanly, it is gone from the store at once.
    assert_status(await run("status", "--store", str(store), cwd=tmp_path), f"embedded {store}", [], started_after=0)


async def test_serve_on_a_port_in_use_exits_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = await run("serve", "--port", str(port), "--store", str(tmp_path / "chat.db"), cwd=tmp_path)
    assert done.status == 2
    assert done.stdout == "", "it never said it listens"
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("chatnode: cannot listen: ") and "Address already in use" in last, done.stderr


async def test_a_second_signal_stops_the_node_at_once_and_quietly(tmp_path: Path) -> None:
    """The whole tree is cancelled then, and it still stops newest child
    first: no session outlives the user actors it tells it is gone, and no
    user actor the timers it sets. Nothing is logged as a crash. The second
    signal comes as the devices go, while their users take the news."""
    path = tmp_path / "chat.db"
    async with serving([*embedded(path), "--drain-timeout", "30", *MANY_FROM_ONE_ADDRESS], cwd=tmp_path) as node:
        # Through the store beside the node: a hundred registrations from one
        # address at once are what the node's throttles are there to refuse.
        store = await EmbeddedStore.open(path)
        try:
            credentials = [(await enroll(store, 1))[0] for _ in range(ONLINE_AT_FORCED_STOP)]
        finally:
            await store.aclose()
        async with AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(device(node.url, c)) for c in credentials]
            node.process.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                while not any(conn.closed for conn in conns):
                    await trio.sleep(0.001)
            status = await node.stop(signal.SIGTERM)
    assert status == 0
    assert node.stdout.lines[1:] == [
        "chatnode: SIGTERM, draining",
        "chatnode: SIGTERM again, stopping now",
        "chatnode: stopped",
    ]
    assert not [line for line in node.stderr.lines if "ERROR" in line or "Traceback" in line], node.stderr.lines


@define
class Outcomes:
    """What each send of the burst came to, by cid."""

    acked: dict[str, tuple[int, int]] = field(factory=dict)  # cid -> (channel, seq)
    refused: set[str] = field(factory=set)  # `unavailable`: the node was draining
    unknown: set[str] = field(factory=set)  # the connection ended first: stored or not
    enough: trio.Event = field(factory=trio.Event)

    def ok(self, cid: str, channel: int, seq: int) -> None:
        self.acked[cid] = (channel, seq)
        if len(self.acked) >= ACKED_BEFORE_SIGTERM:
            self.enough.set()


async def burst(conn: Connection, channel: int, outcomes: Outcomes) -> None:
    """Send until the node refuses (draining) or the connection ends."""
    while True:
        cid = new_cid()
        try:
            sent = await conn.send(channel, f"burst {cid}", cid=cid)
        except Unavailable:
            outcomes.refused.add(cid)
            return
        except ConnectionLost:
            outcomes.unknown.add(cid)
            return
        outcomes.ok(cid, sent.channel, sent.seq)


@asynccontextmanager
async def device(url: str, credentials: LoginResult) -> AsyncIterator[Connection]:
    """An authenticated connection that discards events: a burst's fan-out must not overflow it.

    The node's `bye` is kept in `conn.bye` all the same.
    """
    async with Connection.open(url, on_event=lambda event: None) as conn:
        await conn.auth(credentials.token)
        yield conn


async def stored(url: str, person: Person, channels: list[int]) -> list[ClientMessage]:
    """Every message of `channels`, read through a node as a fresh device of `person` would."""
    messages: list[ClientMessage] = []
    async with device(url, await new_device(url, person, "after restart")) as conn:
        for channel in channels:
            after, more = 0, True
            while more:
                page = await conn.sync(channel, after)
                messages.extend(page.messages)
                after, more = (page.messages[-1].seq if page.messages else after), page.more
    return messages


async def test_sigterm_drains_every_device_and_keeps_every_acknowledged_send(tmp_path: Path) -> None:
    store = tmp_path / "chat.db"
    outcomes = Outcomes()
    async with serving([*embedded(store), *FAST_SENDS], cwd=tmp_path) as node:
        sink = await sign_up(node.url, "sink")
        senders = [await sign_up(node.url, "sender") for _ in range(SENDERS)]
        async with AsyncExitStack() as stack:
            listener = await stack.enter_async_context(device(node.url, await new_device(node.url, sink)))
            conns = [await stack.enter_async_context(device(node.url, await new_device(node.url, p))) for p in senders]
            channels = [await conn.direct(sink.user) for conn in conns]
            async with trio.open_nursery() as nursery:
                for conn, channel in zip(conns, channels):
                    for _ in range(SENDS_IN_FLIGHT):
                        nursery.start_soon(burst, conn, channel, outcomes)
                with trio.fail_after(30):
                    await outcomes.enough.wait()
                status = await node.stop()
                # The bursts end by themselves: every device is told to go.
            # A `bye` each also means the drain finished within its timeout:
            # past it the node closes the sessions without one.
            for conn in [listener, *conns]:
                assert conn.closed
                assert isinstance(conn.bye, ByeEvent), conn.close_reason
                assert conn.bye.reason == "draining"
                assert conn.bye.retry is not None and conn.bye.retry > 0
    assert status == 0
    assert node.stdout.lines[1:] == ["chatnode: SIGTERM, draining", "chatnode: stopped"]

    async with serving(embedded(store), cwd=tmp_path) as restarted:
        messages = await stored(restarted.url, sink, channels)
    by_cid = {m.cid: (m.channel, m.seq) for m in messages}
    missing = {cid: at for cid, at in outcomes.acked.items() if by_cid.get(cid) != at}
    assert not missing, f"{len(missing)} acknowledged sends are not stored where their ok said"
    assert not outcomes.refused & by_cid.keys(), "a send refused while draining was stored"
    assert by_cid.keys() <= outcomes.acked.keys() | outcomes.unknown, "a message nobody sent"
    for channel in channels:
        seqs = [m.seq for m in messages if m.channel == channel]
        assert seqs == list(range(1, len(seqs) + 1)), "no seq gaps"
