"""Stateful property: random programs of sends, retried cids, disconnects,
reconnects, syncs, membership changes and revocations by a few users on a
few devices, over real sockets to a real node, keep DESIGN.md's invariants
1-5, checked against a model after every step.

Each hypothesis example is a `Program` (tests/node/programs.py) run in its
own `trio.run` against a fresh node on a store opened inside it, so the
property is checked on every store of the suite. Steps run one at a time and
each waits for the events it causes, so the model knows exactly which
message every connection must receive next.

Besides its program devices, every user has an auditor: a device online for
the whole example that no operation touches. Auditors read every channel
after every step (as a member, and as an outsider who must be refused), and
they keep every user online, so fan-out reaches all of them.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
from attrs import define, field
from hypothesis import HealthCheck, Phase, given, note, settings

from actors import Node, wall_clock_ms
from protocol import Limits
from client import (
    BadToken,
    ByeEvent,
    ChannelKind,
    Connection,
    LoginResult,
    Message,
    NotFound,
    NotGroup,
    NotMember,
    SendResult,
    ServerEvent,
)
from storage import Device as StoredDevice
from storage import Store, User, hash_password, new_token, token_hash

from .conftest import node_config
from ..storage.fresh import new_id
from .people import PASSWORD, username
from .programs import (
    GROUP,
    Disconnect,
    GoIdle,
    Invite,
    Leave,
    Operation,
    Program,
    ReadAll,
    Reconnect,
    Resend,
    Revoke,
    Send,
    programs,
)

if TYPE_CHECKING:
    from ..conftest import OpenStore

#: Nobody pings in these programs: no device may be closed as idle mid-example.
LIMITS = Limits(heartbeat=60)
#: Short, so that `GoIdle` waits little for the channel actors to passivate.
CHANNEL_IDLE_AFTER = 0.1
#: Seconds a step may take to deliver the events it caused.
DELIVERY_TIMEOUT = 10.0


@settings(
    max_examples=20,
    deadline=None,
    # open_store is function-scoped but safe to share: every example opens a
    # store and a node of its own, and signs up fresh users.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No explain phase: it traces every example while shrinking, which here
    # makes shrinking several times slower, to report lines of the node.
    phases=[phase for phase in Phase if phase is not Phase.explain],
)
@given(program=programs())
def test_random_sessions_keep_the_chat_invariants(open_store: OpenStore, program: Program) -> None:
    trio.run(run_program, open_store, program)


async def run_program(open_store: OpenStore, program: Program) -> None:
    async with open_store() as store, trio.open_nursery() as nursery:
        config = node_config(limits=LIMITS, channel_idle_after=CHANNEL_IDLE_AFTER)
        node: Node = await nursery.start(Node(config, store).run)
        async with trio.open_nursery() as lines:
            world = await World.begin(node, store, lines, program)
            try:
                await world.check()
                for step, operation in enumerate(program.operations):
                    note(f"step {step}: {operation}")
                    await world.apply(operation)
                    await world.check()
                await world.finish()
            finally:
                # Before the nursery ends, also after a failed check: a
                # connection cancelled mid-close waits out its close timeout.
                await world.hang_up()
        await node.drain()


# -- connections -------------------------------------------------------------


@define(eq=False)
class Line:
    """An open connection of a device, and the events the model says it gets next.

    A task of its own holds it open (`hold`), because a connection's context
    must be left by the task that entered it, and lines close in any order.
    """

    conn: Connection
    expected: deque[Message] = field(factory=deque)
    #: The `bye` reason this connection must get next, then close.
    bye: str | None = None
    hang_up: trio.Event = field(factory=trio.Event)
    gone: trio.Event = field(factory=trio.Event)


async def hold(url: str, *, task_status: trio.TaskStatus[Line]) -> None:
    async with Connection.open(url) as conn:
        line = Line(conn)
        task_status.started(line)
        await line.hang_up.wait()
    line.gone.set()


async def next_event(line: Line) -> ServerEvent:
    try:
        return await line.conn.events().receive()
    except trio.EndOfChannel:
        raise AssertionError(f"connection ended unexpectedly: {line.conn.close_reason}") from None


async def read_forward(conn: Connection, channel: int, page: int, after: int = 0) -> list[Message]:
    """Every message after `after`, by `sync` pages, following `more`."""
    messages: list[Message] = []
    while True:
        got = await conn.sync(channel, after, page)
        messages += got.messages
        if not got.more:
            return messages
        assert got.messages, "a page that says `more` holds a message"
        after = got.messages[-1].seq


async def read_backward(conn: Connection, channel: int, page: int, before: int) -> list[Message]:
    """Every message before `before`, by `history` pages, newest first, following `more`."""
    messages: list[Message] = []
    while True:
        got = await conn.history(channel, before, page)
        messages[:0] = got.messages
        if not got.more:
            return messages
        assert got.messages, "a page that says `more` holds a message"
        before = got.messages[0].seq


# -- the model -----------------------------------------------------------------


@define(eq=False)
class Device:
    credentials: LoginResult
    line: Line | None = None
    revoked: bool = False
    #: The seqs this device holds, per channel: sent, received, or synced.
    held: dict[int, set[int]] = field(factory=dict)

    @property
    def user(self) -> int:
        return self.credentials.user

    def holds(self, channel: int) -> set[int]:
        return self.held.setdefault(channel, set())

    def cursor(self, channel: int) -> int:
        """The highest seq up to which the device holds every message."""
        held, seq = self.holds(channel), 0
        while seq + 1 in held:
            seq += 1
        return seq


@define(eq=False)
class Channel:
    id: int
    kind: ChannelKind
    members: set[int]
    #: Message seq k at index k - 1: what the store must hold.
    messages: list[Message] = field(factory=list)

    @property
    def last(self) -> int:
        return len(self.messages)


@define(eq=False)
class World:
    """The node under test, the clients driving it, and the model they are checked against."""

    node: Node
    store: Store
    lines: trio.Nursery
    page: int
    users: list[int]
    auditors: list[Device]  # one per user, in user order
    devices: list[Device]  # the program's, in index order
    channels: list[Channel] = field(factory=list)  # DIRECT, GROUP
    #: First acknowledgement of each (sender, cid), in order.
    acked: list[Message] = field(factory=list)
    by_cid: dict[tuple[int, str], Message] = field(factory=dict)
    checks: int = 0
    cids: Iterator[int] = field(factory=itertools.count)

    @classmethod
    async def begin(cls, node: Node, store: Store, lines: trio.Nursery, program: Program) -> World:
        accounts = [await enroll(store, 1 + count) for count in program.devices]
        world = cls(
            node,
            store,
            lines,
            program.page,
            [auditor.user for auditor, *_ in accounts],
            [Device(auditor) for auditor, *_ in accounts],
            [Device(credentials) for _, *devices in accounts for credentials in devices],
        )
        async with trio.open_nursery() as nursery:
            for device in world.auditors + world.devices:
                nursery.start_soon(world._connect, device)
        first, second, *others = world.users
        conn = world._conn(world.auditors[0])
        world.channels = [
            Channel(await conn.direct(second), ChannelKind.DIRECT, {first, second}),
            Channel(await conn.group("stateful", others), ChannelKind.GROUP, {first, *others}),
        ]
        return world

    def _conn(self, device: Device) -> Connection:
        assert device.line is not None
        return device.line.conn

    # -- operations --------------------------------------------------------------

    async def apply(self, operation: Operation) -> None:
        if isinstance(operation, GoIdle):
            await self._go_idle()
            return
        device = self.devices[operation.device]
        if isinstance(operation, Reconnect):
            await self._reconnect(device)
        elif device.line is None:
            return  # offline or revoked: nothing to do from it
        elif isinstance(operation, Send):
            await self._send(device, self.channels[operation.channel], operation.body, f"cid-{next(self.cids)}")
        elif isinstance(operation, Resend):
            await self._resend(device, operation)
        elif isinstance(operation, Disconnect):
            await self._hang_up(device)
        elif isinstance(operation, ReadAll):
            await self._read_all(device, self.channels[operation.channel], operation.backwards)
        elif isinstance(operation, Invite):
            await self._invite(device, self.users[operation.user])
        elif isinstance(operation, Leave):
            await self._leave(device, self.channels[operation.channel])
        elif isinstance(operation, Revoke):
            await self._revoke(device, operation)

    async def _send(self, device: Device, channel: Channel, body: str, cid: str) -> None:
        conn = self._conn(device)
        if device.user not in channel.members:
            with pytest.raises(NotMember):
                await conn.send(channel.id, body, cid)
            return
        sent = await conn.send(channel.id, body, cid)
        earlier = self.by_cid.get((device.user, cid))
        if earlier is not None:
            assert sent == SendResult(earlier.channel, earlier.seq, earlier.ts), "invariant 3: a cid answers its first seq"
            return
        assert (sent.channel, sent.seq) == (channel.id, channel.last + 1), "invariant 1: the next seq"
        message = Message(channel.id, sent.seq, device.user, device.credentials.device, body, sent.ts, cid)
        channel.messages.append(message)
        self.acked.append(message)
        self.by_cid[(device.user, cid)] = message
        device.holds(channel.id).add(message.seq)
        for other in self.auditors + self.devices:
            if other is not device and other.line is not None and other.user in channel.members:
                other.line.expected.append(message)

    async def _resend(self, device: Device, resend: Resend) -> None:
        candidates = [m for m in self.acked if (m.sender == device.user) != resend.foreign]
        if not candidates:
            return
        earlier = candidates[resend.earlier % len(candidates)]
        channel = next(c for c in self.channels if (c.id == earlier.channel) != resend.elsewhere)
        await self._send(device, channel, earlier.body, earlier.cid)

    async def _read_all(self, device: Device, channel: Channel, backwards: bool) -> None:
        conn = self._conn(device)
        if device.user not in channel.members:
            with pytest.raises(NotMember):
                await (conn.history(channel.id, channel.last + 1) if backwards else conn.sync(channel.id, 0))
            return
        if backwards:
            messages = await read_backward(conn, channel.id, self.page, channel.last + 1)
        else:
            messages = await read_forward(conn, channel.id, self.page)
        assert messages == channel.messages, "invariants 1-2: a member reads every acknowledged message"
        device.holds(channel.id).update(m.seq for m in messages)

    async def _invite(self, device: Device, user: int) -> None:
        group = self.channels[GROUP]
        if device.user not in group.members:
            with pytest.raises(NotMember):
                await self._conn(device).invite(group.id, [user])
            return
        await self._conn(device).invite(group.id, [user])
        group.members.add(user)

    async def _leave(self, device: Device, channel: Channel) -> None:
        conn = self._conn(device)
        if device.user not in channel.members:
            with pytest.raises(NotMember):
                await conn.leave(channel.id)
        elif channel.kind is ChannelKind.DIRECT:
            with pytest.raises(NotGroup):
                await conn.leave(channel.id)
        else:
            await conn.leave(channel.id)
            channel.members.discard(device.user)

    async def _revoke(self, device: Device, revoke: Revoke) -> None:
        # Never empty: the device itself, or the devices of two other users.
        candidates = [d for d in self.devices if (d.user == device.user) != revoke.foreign]
        target = candidates[revoke.target % len(candidates)]
        conn = self._conn(device)
        if target.user != device.user or target.revoked:
            with pytest.raises(NotFound):
                await conn.revoke(target.credentials.device)
            return
        await conn.revoke(target.credentials.device)
        target.revoked = True
        if target.line is not None:
            target.line.bye = "revoked"
        await self._refused(target)

    async def _refused(self, device: Device) -> None:
        """Invariant 5: a revoked token authenticates nobody."""
        async with Connection.open(self.node.url) as conn:
            with pytest.raises(BadToken):
                await conn.auth(device.credentials.token)

    async def _hang_up(self, device: Device) -> None:
        line = device.line
        assert line is not None
        line.hang_up.set()
        await line.gone.wait()
        device.line = None

    async def _connect(self, device: Device) -> Connection:
        """Connect and authenticate: as its own device, or the test fails."""
        line: Line = await self.lines.start(hold, self.node.url)
        device.line = line
        session = await line.conn.auth(device.credentials.token)
        assert (session.user, session.device) == (device.user, device.credentials.device), (
            "invariant 5: a token acts as its own device"
        )
        return line.conn

    async def _reconnect(self, device: Device) -> None:
        """What a client does after `auth`: `channels`, then `sync` each channel from its cursor."""
        if device.revoked:
            await self._refused(device)
            return
        if device.line is not None:
            await self._hang_up(device)
        conn = await self._connect(device)
        mine = {c.id: c for c in self.channels if device.user in c.members}
        listed = await conn.channels()
        assert {info.channel for info in listed} == set(mine), "invariant 5: a user sees the channels it is in"
        for info in listed:
            channel = mine[info.channel]
            assert (info.kind, info.members, info.last) == (channel.kind, channel.members, channel.last)
            cursor = device.cursor(channel.id)
            if info.last > cursor:
                synced = await read_forward(conn, channel.id, self.page, cursor)
                assert synced == channel.messages[cursor:], "invariant 4: sync from the cursor fills the absence"
                device.holds(channel.id).update(m.seq for m in synced)
            assert device.holds(channel.id) == set(range(1, channel.last + 1)), (
                "invariant 4: after reconnect and sync the device holds 1..last"
            )

    async def _go_idle(self) -> None:
        with trio.fail_after(DELIVERY_TIMEOUT):
            while len(self.node.services.channels):
                await trio.sleep(CHANNEL_IDLE_AFTER / 4)

    # -- the invariants ------------------------------------------------------------

    async def check(self) -> None:
        """Invariants 1-5 after a step: first every due event arrives, then the channels are read."""
        self.checks += 1
        for device in self.auditors + self.devices:
            if device.line is not None:
                await self._settle(device)
        for channel in self.channels:
            await self._check_channel(channel)

    async def _settle(self, device: Device) -> None:
        """Take the events due on the device's line, and any other that came; then a due `bye`."""
        line = device.line
        assert line is not None
        with trio.fail_after(DELIVERY_TIMEOUT):
            while line.expected or line.bye is not None:
                self._take(device, await next_event(line))
            while True:
                try:
                    event = line.conn.events().receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                self._take(device, event)
            if line.conn.bye is not None:  # the one due: `_take` checked it
                await line.conn.wait_closed()
                await self._hang_up(device)
                return
        assert not line.conn.closed, f"connection lost: {line.conn.close_reason}"

    def _take(self, device: Device, event: ServerEvent) -> None:
        line = device.line
        assert line is not None
        if isinstance(event, Message):
            assert line.expected, f"invariants 4-5: a msg event not due (twice, or to a non-member): {event}"
            assert event == line.expected.popleft(), "invariant 4: the events due, in order, as stored"
            held = device.holds(event.channel)
            assert event.seq > max(held, default=0), "invariant 4: a channel's events in seq order, once"
            held.add(event.seq)
        elif isinstance(event, ByeEvent):
            assert event.reason == line.bye, f"an unexpected bye: {event}"
            line.bye = None

    async def _check_channel(self, channel: Channel) -> None:
        beyond = channel.last + 2  # any stored seq past the last acknowledged one would show
        stored = await self.store.read_range(channel.id, 0, beyond, beyond)
        assert [Message(**attrs.asdict(m)) for m in stored] == channel.messages, (
            "invariants 1-3: the store holds each acknowledged message once, at seqs 1..N"
        )
        assert await self.store.last_seqs([channel.id]) == {channel.id: channel.last}
        members = [a for a in self.auditors if a.user in channel.members]
        outsiders = [a for a in self.auditors if a.user not in channel.members]
        if members:
            reader = members[self.checks % len(members)]
            messages = await read_forward(self._conn(reader), channel.id, self.page)
            assert messages == channel.messages, "invariants 1-2: a member syncs 1..N from 0"
            reader.holds(channel.id).update(m.seq for m in messages)
        if outsiders:
            outsider = outsiders[self.checks % len(outsiders)]
            with pytest.raises(NotMember):
                await self._conn(outsider).sync(channel.id, 0)

    # -- the end ---------------------------------------------------------------------

    async def finish(self) -> None:
        """Every device reconnects and catches up; a last message per channel fences off late events.

        A revoked device is refused again. Anything delivered twice would arrive before the fence.
        """
        for device in self.devices:
            await self._reconnect(device)
        await self.check()
        for channel in self.channels:
            members = [a for a in self.auditors if a.user in channel.members]
            if members:
                await self._send(members[0], channel, "fence", f"fence-{channel.id}")
        await self.check()

    async def hang_up(self) -> None:
        """Close every connection, all at once."""
        lines = [device.line for device in self.auditors + self.devices if device.line is not None]
        for line in lines:
            line.hang_up.set()
        for line in lines:
            await line.gone.wait()


async def enroll(store: Store, devices: int) -> list[LoginResult]:
    """A new account with `devices` devices, stored as `register` and `login` store them.

    Through the Store API rather than the protocol: their scrypt would be
    most of an example's time, and shrinking runs hundreds of examples.
    """
    now = wall_clock_ms()
    user = User(new_id(), username("stateful"), password_hash(), now)
    await store.create_user(user)
    credentials = []
    for number in range(devices):
        token = new_token()
        device = StoredDevice(user.user, new_id(), f"device-{number}", now, now)
        await store.add_device(device, token_hash(token))
        credentials.append(LoginResult(user.user, device.device, token))
    return credentials


@functools.cache
def password_hash() -> bytes:
    """One scrypt for the whole run: every account has the same password."""
    return hash_password(PASSWORD)

