"""Attacks on the transport, each beside an innocent pair that must not notice.

Each test runs one kind of hostile client (a device that never reads what
it asked for, frames built to be expensive to decode, sockets that never
authenticate, a pipeline of page reads) next to two users talking over a
direct channel, and checks that the attacker is cut off or refused with the
code the protocol specifies, that the pair kept talking, and, where memory is
what the attack spends, that the node's resident memory stayed within a
stated bound. Those run `bin/chatnode serve` as a real process and read its
peak RSS from /proc; the others run a node in the test's process.
"""

from __future__ import annotations

import re
import secrets
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url, wrap_client_stream

from actors import Node
from actors._web import RESOURCE
from client import Connection
from protocol import Limits, LoginResult
from storage import EmbeddedStore, ScyllaCluster

from ..conftest import OpenStore
from ..operator.chatnode import Serving, serving
from . import raw
from .conftest import node_config
from .people import Person, messages, new_device, online, sign_up

MiB = 1 << 20

#: The bound the issue sets: one client that never reads adds at most this to the node.
NEVER_READING_BOUND = 16 * MiB
#: Three devices pipelining page reads: six pages in flight (each read, measured and encoded)
#: and their replies queued, where 96 would be with nothing but the old limit of requests.
PIPELINES_BOUND = 64 * MiB

#: Bodies as long as the protocol allows, so that a `sync` of ten is a full (1 MB) page.
LONG_BODY = "x" * 100_000
LONG_MESSAGES = 20
PAGE = 10


# -- the innocent pair ------------------------------------------------------------


class Pair:
    """Alice and Bob over a direct channel: each exchange is a send and its arrival."""

    def __init__(self, alice: Connection, bob: Connection, channel: int) -> None:
        self.alice, self.bob, self.channel = alice, bob, channel
        self.exchanged = 0

    async def exchange(self) -> None:
        sent = await self.alice.send(self.channel, f"still here {self.exchanged}")
        with trio.fail_after(10):
            [got] = await messages(self.bob, 1)
        assert got.seq == sent.seq
        self.exchanged += 1

    async def keep_talking(self, done: trio.Event) -> None:
        """Exchange until `done`, at least once after it was set."""
        while not done.is_set():
            await self.exchange()
            await trio.sleep(0.05)
        await self.exchange()


@asynccontextmanager
async def innocent_pair(url: str) -> AsyncIterator[Pair]:
    alice, bob = await sign_up(url, "alice"), await sign_up(url, "bob")
    async with (
        online(url, await new_device(url, alice), heartbeat=True) as a,
        online(url, await new_device(url, bob), heartbeat=True) as b,
    ):
        channel = await a.direct(bob.user)
        pair = Pair(a, b, channel)
        await pair.exchange()
        yield pair


@asynccontextmanager
async def attacking(pair: Pair) -> AsyncIterator[trio.Event]:
    """The pair talks for as long as the block runs; set the event when the attack is over."""
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pair.keep_talking, done)
        yield done
        done.set()


@asynccontextmanager
async def authenticated(url: str, person: Person | LoginResult) -> AsyncIterator[WebSocketConnection]:
    """A raw WebSocket of a device, authenticated: a new device of `person`,
    or the one logged in already (so that the login's KDF, whose table is
    64 MiB at the node's scrypt cost, lands before a memory baseline)."""
    credentials = person if isinstance(person, LoginResult) else await new_device(url, person, "attacker")
    async with open_websocket_url(url) as ws:
        reply = await raw.call(ws, t="auth", token=credentials.token)
        assert reply["t"] == "ok", reply
        yield ws


async def pipeline(ws: WebSocketConnection, channel: int, count: int = 32) -> None:
    """Pipeline `count` full-page `sync`s, then read every reply (they come in any order)."""
    ids = {await raw.send_frame(ws, t="sync", channel=channel, after=0, limit=PAGE) for _ in range(count)}
    while ids:
        reply = await raw.next_frame(ws)
        assert reply["t"] == "ok" and len(reply["messages"]) == PAGE, reply
        ids.remove(reply["id"])


async def pipelines(url: str, devices: Sequence[Person | LoginResult], channel: int) -> None:
    """These devices pipelining full pages at once, each reading all it asked for."""
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(authenticated(url, device)) for device in devices]
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for ws in sockets:
                    nursery.start_soon(pipeline, ws, channel)


async def read_to_the_end(ws: WebSocketConnection, timeout: float = 30.0) -> tuple[list[dict[str, Any]], int]:
    """Every frame the node still sends, and its close code."""
    frames = []
    with trio.fail_after(timeout):
        try:
            while True:
                frames.append(await raw.next_frame(ws))
        except ConnectionClosed as closed:
            return frames, closed.reason.code


async def channel_of_long_messages(url: str, writer: Person, reader: Person) -> int:
    """A direct channel between them holding LONG_MESSAGES bodies of 100,000 characters."""
    async with online(url, await new_device(url, writer)) as conn:
        channel = await conn.direct(reader.user)
        for _ in range(LONG_MESSAGES):
            await conn.send(channel, LONG_BODY)
    return channel


def security_line(kind: str, user: int | None = None) -> re.Pattern[str]:
    who = r"\S+" if user is None else str(user)
    return re.compile(rf".*WARNING chat\.security: {kind} peer=\S+ user={who} .*")


async def wait_for_connections(node: Node, count: int, timeout: float) -> None:
    with trio.fail_after(timeout):
        while node.gateway.connections != count:
            await trio.sleep(0.05)


# -- the node as an operator runs it, and its memory -----------------------------


@pytest.fixture(params=["embedded", "scylla"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """`chatnode serve` arguments for a fresh store of each kind (the kind first, for reports)."""
    if request.param == "embedded":
        yield ["embedded", "--store", str(tmp_path / "chat.db")]
        return
    points: Sequence[tuple[str, int]] = request.getfixturevalue("cql_contact_points")
    keyspace = f"chat_abuse_{secrets.token_hex(6)}"
    hosts = ",".join(f"{host}:{port}" for host, port in points)
    yield ["scylla", "--cql", hosts, "--keyspace", keyspace, "--replication-factor", "1"]
    cluster = ScyllaCluster.connect(points, keyspace)
    try:
        cluster.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    finally:
        cluster.shutdown()


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class Memory:
    """The node's resident memory from /proc: its peak since `reset`, against its size then."""

    def __init__(self, node: Serving) -> None:
        self._pid = node.process.pid
        self.baseline = 0
        self.grown = 0

    def reset(self) -> None:
        # Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
        with open(f"/proc/{self._pid}/clear_refs", "w") as clear:
            clear.write("5")
        self.baseline = _status_kib(self._pid, "VmRSS") * 1024

    def measure(self) -> int:
        """Bytes by which the peak since `reset` passed the baseline."""
        self.grown = _status_kib(self._pid, "VmHWM") * 1024 - self.baseline
        return self.grown

    def report(self, what: str) -> str:
        return f"{what}: baseline {self.baseline / MiB:.1f} MiB, peak +{self.grown / MiB:.1f} MiB"


async def test_a_client_that_never_reads_its_syncs_is_cut_off_and_adds_at_most_16_MiB(
    store_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack of the issue: 1,000 `sync`s of full pages, never reading a reply.

    The node queues replies up to its 8 MiB cap (a page read starts only
    while its reply fits), then stops reading the device; silent for the
    idle timeout, the device is told `bye` idle behind nothing (the queue is
    dropped), and aborted when even that does not get through in the close
    grace. It used to hold 757 MB for 90 s.
    """
    kind, *args = store_args
    async with serving(["--port", "0", "--heartbeat", "1", *args], cwd=tmp_path) as node:
        writer, attacker = await sign_up(node.url, "writer"), await sign_up(node.url, "attacker")
        channel = await channel_of_long_messages(node.url, writer, attacker)
        async with innocent_pair(node.url) as pair:
            # The baseline: a node that has served the same pages, as fast, to a device that reads.
            await pipelines(node.url, [attacker], channel)
            device = await new_device(node.url, attacker, "attacker")
            memory = Memory(node)
            memory.reset()
            async with authenticated(node.url, device) as ws, attacking(pair):
                for _ in range(1000):
                    await raw.send_frame(ws, t="sync", channel=channel, after=0, limit=PAGE)
                # Six silent heartbeats, two seconds of grace, a tick or two.
                await trio.sleep(6 + 2 + 2)
                grown = memory.measure()
                # Reading now, it gets what the sockets held and the end; had
                # the node not cut it off, it would get all 1,000 pages.
                frames, code = await read_to_the_end(ws)
    with capsys.disabled():
        print(f"\n{memory.report(f'never-reading client, {kind}')}")
    assert code in (1008, 1006), "told bye and closed, or cut off where the bye could not get through"
    if code == 1008:
        assert frames[-1] == {"t": "bye", "reason": "idle"}
    assert len(frames) < 20, "most replies were never written"
    assert pair.exchanged >= 2
    assert grown <= NEVER_READING_BOUND, memory.report("never-reading client")


async def test_page_reads_in_flight_are_bounded_per_connection_so_pipelines_cost_little(
    store_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three devices pipeline 32 full-page `sync`s each, reading the replies.

    At most two page reads of a connection are in flight (the rest wait, and
    stop the connection's reader), so six pages are being read at once, not
    ninety-six.
    """
    kind, *args = store_args
    async with serving(["--port", "0", *args], cwd=tmp_path) as node:
        writer, attacker = await sign_up(node.url, "writer"), await sign_up(node.url, "attacker")
        channel = await channel_of_long_messages(node.url, writer, attacker)
        async with innocent_pair(node.url) as pair:
            # The baseline: a node that has served one such pipeline.
            await pipelines(node.url, [attacker], channel)
            devices = [await new_device(node.url, attacker, "attacker") for _ in range(3)]
            memory = Memory(node)
            memory.reset()
            async with attacking(pair):
                await pipelines(node.url, devices, channel)
            grown = memory.measure()
    with capsys.disabled():
        print(f"\n{memory.report(f'3 pipelines of 32 page reads, {kind}')}")
    assert pair.exchanged >= 2
    assert grown <= PIPELINES_BOUND, memory.report("3 pipelines of 32 page reads")


# -- closing never waits behind a stuck writer (a node in this process) ---------

QUICK = Limits(heartbeat=1, idle_heartbeats=2)  # ticks every 0.5 s, idle after 2 s


@asynccontextmanager
async def running(open_store: OpenStore, **config: object) -> AsyncIterator[Node]:
    """A node on each store, for attacks that go through the store."""
    async with open_store() as store, trio.open_nursery() as nursery:
        node = await nursery.start(Node(node_config(**config), store).run)
        yield node
        await node.drain()


@asynccontextmanager
async def embedded_node(path: Path, **config: object) -> AsyncIterator[Node]:
    """A node on an embedded store at `path`, for attacks on the transport alone."""
    store = await EmbeddedStore.open(path, busy_timeout=60)
    try:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(Node(node_config(**config), store).run)
            yield node
            await node.drain()
    finally:
        await store.aclose()


async def small_window(nursery: trio.Nursery, node: Node) -> WebSocketConnection:
    """A WebSocket whose receive buffer is 4 KiB: what it does not read stays in the node."""
    assert node.gateway.port is not None
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", node.gateway.port))
    return await wrap_client_stream(nursery, trio.SocketStream(sock), "127.0.0.1", RESOURCE)


def queued_bytes(node: Node) -> list[int]:
    """What each live session has queued for its device (the writer's backlog)."""
    return [session._protocol.queued_bytes for session in node.gateway._live]


async def test_an_idle_close_does_not_wait_behind_a_writer_stuck_on_a_device_that_never_reads(
    tmp_path: Path,
) -> None:
    """The device asks for seven pages (under the byte cap), reads nothing, then falls silent.

    Its writer is stuck on a frame the device will never take. The idle
    close drops the queue, and when even the `bye` cannot get through in the
    close grace, the connection is aborted: the node holds nothing for it.
    (The idle `bye` used to queue behind the stuck frame, for ever.)
    """
    async with embedded_node(tmp_path / "chat.db", limits=QUICK, close_grace=1.0) as node:
        writer, attacker = await sign_up(node.url, "writer"), await sign_up(node.url, "attacker")
        channel = await channel_of_long_messages(node.url, writer, attacker)
        async with innocent_pair(node.url) as pair, attacking(pair), trio.open_nursery() as nursery:
            ws = await small_window(nursery, node)
            credentials = await new_device(node.url, attacker, "attacker")
            assert (await raw.call(ws, t="auth", token=credentials.token))["t"] == "ok"
            for _ in range(7):  # 7 MB of pages: under the 8 MiB cap, over what the sockets hold
                await raw.send_frame(ws, t="sync", channel=channel, after=0, limit=PAGE)
            with trio.fail_after(10):
                while not any(queued_bytes(node)):
                    await trio.sleep(0.05)
            # Idle after 2 s; aborted a second of grace and a tick or two later.
            await wait_for_connections(node, 2, timeout=30)
            frames, code = await read_to_the_end(ws)
            nursery.cancel_scope.cancel()
    assert code == 1006, "aborted: the bye was stuck behind the frame the device never took"
    assert not any(frame["t"] == "bye" for frame in frames)
    assert len(frames) < 7
    assert pair.exchanged >= 2


#: Sends as fast as the store takes them: the flood is what these tests are about.
FLOOD = Limits(heartbeat=1, idle_heartbeats=30, send_rate=10_000, send_burst=10_000)


async def flood_until_cut_off(url: str, writer: Person, channel: int, caplog: pytest.LogCaptureFixture) -> int:
    """Send long messages into `channel` until the node's security log reports a slow consumer; how many."""
    async with online(url, await new_device(url, writer, "flood")) as conn:
        for sent in range(1, 1000):
            await conn.send(channel, LONG_BODY)
            if any(r.getMessage().startswith("slow_consumer ") for r in caplog.records):
                return sent
    raise AssertionError("the node never gave up on a device that does not read")


async def test_a_slow_consumer_is_cut_off_without_waiting_for_it_to_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Messages pile up for a device that reads nothing: past 8 MiB queued the node says `bye`,
    and when the device does not take that either, aborts it after the close grace."""
    async with embedded_node(tmp_path / "chat.db", limits=FLOOD, close_grace=1.0) as node:
        writer, attacker = await sign_up(node.url, "writer"), await sign_up(node.url, "attacker")
        channel = await channel_of_long_messages(node.url, writer, attacker)
        async with innocent_pair(node.url) as pair, attacking(pair), trio.open_nursery() as nursery:
            ws = await small_window(nursery, node)
            credentials = await new_device(node.url, attacker, "attacker")
            assert (await raw.call(ws, t="auth", token=credentials.token))["t"] == "ok"
            sent = await flood_until_cut_off(node.url, writer, channel, caplog)
            await wait_for_connections(node, 2, timeout=30)  # the node is done with it: it read nothing
            frames, code = await read_to_the_end(ws)
            nursery.cancel_scope.cancel()
    # What the kernel held for it is all it gets: the bye and the close frame
    # if they fitted there, else an abrupt end.
    assert code in (1008, 1006)
    if code == 1008:
        assert frames[-1] == {"t": "bye", "reason": "slow_consumer"}
    assert len([frame for frame in frames if frame["t"] == "msg"]) < sent
    assert pair.exchanged >= 2
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("slow_consumer ")]
    assert f" user={attacker.user} " in line


async def test_a_slow_consumer_reading_again_in_time_gets_bye_and_1008(
    open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Past its byte cap the device is told why; what was queued is dropped, and it re-syncs."""
    async with running(open_store, limits=FLOOD, close_grace=30.0) as node:
        writer, attacker = await sign_up(node.url, "writer"), await sign_up(node.url, "attacker")
        channel = await channel_of_long_messages(node.url, writer, attacker)
        async with innocent_pair(node.url) as pair:
            async with authenticated(node.url, attacker) as ws, attacking(pair):
                sent = await flood_until_cut_off(node.url, writer, channel, caplog)
                frames, code = await read_to_the_end(ws)
        assert code == 1008
        assert frames[-1] == {"t": "bye", "reason": "slow_consumer"}
        got = [frame["seq"] for frame in frames if frame["t"] == "msg"]
        assert got == list(range(LONG_MESSAGES + 1, LONG_MESSAGES + 1 + len(got))), "in order, from the first"
        assert len(got) < sent, "and not the rest: they were dropped"
        assert pair.exchanged >= 2


# -- decoding bounded in C; small frames before auth ---------------------------


def huge_map_ping(keys: int) -> bytes:
    """A ping whose extra field is a map of `keys` keys: cheap to send, dear to walk in Python."""
    return msgpack.packb({"t": "ping", "id": 1, "x": {str(i): 0 for i in range(keys)}})


#: Keys of a map that fills most of a 1 MiB message.
HUGE_MAP_KEYS = 100_000


async def test_maximal_maps_before_auth_are_refused_unread_with_1009(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Five sockets each send a 900 KB ping holding a 100,000-key map before `auth`.

    Before `auth` a frame may hold 8 KiB: each is closed with 1009 without a
    byte of it decoded, and the pair beside them keeps talking.
    """
    data = huge_map_ping(HUGE_MAP_KEYS)
    async with embedded_node(tmp_path / "chat.db") as node, innocent_pair(node.url) as pair, attacking(pair):
        codes = []
        for _ in range(5):
            async with open_websocket_url(node.url) as ws:
                await ws.send_message(data)
                _, code = await read_to_the_end(ws, timeout=10)
                codes.append(code)
    assert codes == [1009] * 5
    assert pair.exchanged >= 2
    assert any(r.getMessage().startswith("oversized_frame ") for r in caplog.records)


async def test_a_maximal_map_after_auth_is_unsupported_data_refused_by_msgpack_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An authenticated device may send 1 MiB, but no map of 100,000 keys: 1003, after its err."""
    data = huge_map_ping(HUGE_MAP_KEYS)
    assert len(data) < MiB
    async with embedded_node(tmp_path / "chat.db") as node, innocent_pair(node.url) as pair, attacking(pair):
        mallory = await sign_up(node.url, "mallory")
        async with authenticated(node.url, mallory) as ws:
            await ws.send_message(data)
            frames, code = await read_to_the_end(ws, timeout=10)
    assert code == 1003
    assert [(frame["t"], frame["id"], frame["code"]) for frame in frames] == [("err", None, "bad_request")]
    assert "max_map_len" in frames[0]["msg"]
    assert pair.exchanged >= 2
    assert any(r.getMessage().startswith("malformed_frame ") for r in caplog.records)


# -- auth within its deadline ---------------------------------------------------

AUTH_DEADLINE = Limits(heartbeat=1, idle_heartbeats=30, auth_timeout=2.0)


async def ping_unauthenticated(ws: WebSocketConnection) -> int:
    """Ping twice a second, never authenticating; the close code that ends it."""
    try:
        while True:
            reply = await raw.call(ws, t="ping")
            assert reply["t"] == "ok"
            await trio.sleep(0.5)
    except ConnectionClosed as closed:
        return closed.reason.code


async def test_sockets_that_only_ping_and_never_auth_are_closed_1008_at_the_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fifty sockets ping and never authenticate: all are closed with 1008, no bye, at the auth deadline.

    Pinging keeps a socket from idle, never from the deadline (it used to
    keep 500 of 500 open).
    """
    async with embedded_node(tmp_path / "chat.db", limits=AUTH_DEADLINE) as node, innocent_pair(node.url) as pair:
        async with attacking(pair), AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(open_websocket_url(node.url)) for _ in range(50)]
            codes: list[int] = []

            async def attacker(ws: WebSocketConnection) -> None:
                codes.append(await ping_unauthenticated(ws))

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    for ws in sockets:
                        nursery.start_soon(attacker, ws)
            reasons = {ws.closed.reason for ws in sockets if ws.closed is not None}
        await wait_for_connections(node, 2, timeout=10)
    assert codes == [1008] * 50
    assert reasons == {"auth timeout"}
    assert pair.exchanged >= 2
    assert any(r.getMessage().startswith("auth_timeout ") for r in caplog.records)


# -- page reads in flight: per connection and per node ---------------------------


@asynccontextmanager
async def write_locked(path: Path) -> AsyncIterator[None]:
    """Another connection holds the database's write lock: the channel's next append waits on it."""
    backup = sqlite3.connect(path, isolation_level=None)
    backup.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        backup.execute("ROLLBACK")
        backup.close()


async def a_send_holding_up_the_channel(ws: WebSocketConnection, channel: int) -> int:
    """A send the channel cannot store while the lock is held; its reads (`Access`) queue behind it."""
    return await raw.send_frame(ws, t="send", channel=channel, body="held up", cid=secrets.token_hex(8))


async def test_a_third_page_read_waits_and_stops_the_reader_of_its_connection_only(tmp_path: Path) -> None:
    """Two `sync`s are in flight (held up behind a locked store); the third waits, and so does the
    `ping` the device sent after it: the connection's reader has stopped. Another device's ping
    is answered meanwhile."""
    path = tmp_path / "chat.db"
    async with embedded_node(path, ask_timeout=60.0) as node:
        alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
        async with online(node.url, await new_device(node.url, alice)) as a:
            channel = await a.direct(bob.user)
            await a.send(channel, "hello")
        async with authenticated(node.url, alice) as ws, open_websocket_url(node.url) as bystander:
            async with write_locked(path):
                send = await a_send_holding_up_the_channel(ws, channel)
                syncs = [await raw.send_frame(ws, t="sync", channel=channel, after=0) for _ in range(3)]
                ping = await raw.send_frame(ws, t="ping")
                assert (await raw.call(bystander, t="ping"))["t"] == "ok", "other connections are served"
                await trio.sleep(1)  # with no limit the ping would be answered meanwhile
                with trio.move_on_after(0.5):
                    early = await raw.next_frame(ws)
                    pytest.fail(f"the device got {early!r} while its reader should have stopped")
            answered = []
            with trio.fail_after(30):
                while len(answered) < 5:
                    frame = await raw.next_frame(ws)
                    if frame["t"] in ("ok", "err"):
                        answered.append(frame["id"])
        assert set(answered) == {send, *syncs, ping}
        assert answered.index(ping) > min(answered.index(s) for s in syncs), "read only once a sync was answered"


async def test_page_reads_of_the_whole_node_share_one_limit(tmp_path: Path) -> None:
    """With room for two page reads on the node, two devices with two `sync`s each: two read, two wait."""
    path = tmp_path / "chat.db"
    async with embedded_node(path, ask_timeout=60.0, page_reads=2) as node:
        alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
        async with online(node.url, await new_device(node.url, alice)) as a:
            channel = await a.direct(bob.user)
            await a.send(channel, "hello")
        limiter = node.services.page_reads
        async with (
            authenticated(node.url, alice) as first,
            authenticated(node.url, bob) as second,
            open_websocket_url(node.url) as bystander,
        ):
            async with write_locked(path):
                requests = {first: [await a_send_holding_up_the_channel(first, channel)], second: []}
                for ws in (first, second):
                    requests[ws] += [await raw.send_frame(ws, t="sync", channel=channel, after=0) for _ in range(2)]
                with trio.fail_after(10):
                    while limiter.statistics().tasks_waiting < 2:
                        await trio.sleep(0.05)
                assert limiter.borrowed_tokens == 2
                # Each connection's reader still runs: its own limit of two is not reached.
                assert (await raw.call(second, t="ping"))["t"] == "ok"
                assert (await raw.call(bystander, t="ping"))["t"] == "ok"
            for ws, ids in requests.items():
                answered = {}
                with trio.fail_after(30):
                    while answered.keys() != set(ids):
                        frame = await raw.next_frame(ws)
                        if frame["t"] in ("ok", "err"):
                            answered[frame["id"]] = frame["t"]
                assert set(answered.values()) == {"ok"}, answered
