"""Presence, heartbeats, typing and receipts over real sockets, with a short heartbeat.

The node runs with a 1 s heartbeat and closes a device after 2 silent
heartbeats, so the offline grace is 2 s: long enough for a reconnect, short
enough to wait for in a test. The debounce itself is tested without a
network in tests/actors.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from actors import Node
from storage import EmbeddedStore
from protocol import Limits
from client import ByeEvent, NotMember, PresenceEvent, ReceiptEvent, TypingEvent

from .conftest import node_config
from .people import messages, new_device, next_event, online, queued_events, sign_up

GRACE = 2.0


@pytest.fixture
def limits() -> Limits:
    return Limits(heartbeat=1, idle_heartbeats=2)


async def settle(seconds: float = GRACE + 1.0) -> None:
    """Wait past the grace, so anything that was going to be sent has been."""
    await trio.sleep(seconds)


async def test_presence_is_per_user_not_per_device_and_spares_strangers(node: Node) -> None:
    alice, bob, eve = [await sign_up(node.url, n) for n in ("alice", "bob", "eve")]
    phone, laptop = await new_device(node.url, alice, "phone"), await new_device(node.url, alice, "laptop")
    async with (
        online(node.url, await new_device(node.url, bob), heartbeat=True) as b,
        online(node.url, await new_device(node.url, eve), heartbeat=True) as e,
    ):
        async with online(node.url, phone, heartbeat=True) as p:
            await p.direct(bob.user)  # contacts from now on
        # Alice's phone went and her offline grace is running: she comes back.
        async with online(node.url, phone, heartbeat=True), online(node.url, laptop, heartbeat=True):
            await settle()
            assert not [ev for ev in queued_events(b) if isinstance(ev, PresenceEvent)], "back within the grace"
            (info,) = await b.presence([alice.user])
            assert info.online
        # Both devices gone: one offline event, after the grace.
        offline = await next_event(b, PresenceEvent, timeout=GRACE + 5)
        assert (offline.presence.user, offline.presence.online) == (alice.user, False)
        assert offline.presence.last > 0
        await settle()
        assert not [ev for ev in queued_events(b) if isinstance(ev, PresenceEvent)], "exactly one"
        assert not [ev for ev in queued_events(e) if isinstance(ev, PresenceEvent)], "strangers hear nothing"
        (seen_by_bob,) = await b.presence([alice.user])
        (seen_by_eve,) = await e.presence([alice.user])
    assert (seen_by_bob.online, seen_by_bob.last) == (False, offline.presence.last)
    assert (seen_by_eve.online, seen_by_eve.last) == (False, 0), "no shared channel: offline, last 0"


async def test_coming_online_is_announced_once_to_online_contacts(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with online(node.url, await new_device(node.url, alice), heartbeat=True) as a:
        await a.direct(bob.user)
    await settle()  # alice is offline now
    async with online(node.url, await new_device(node.url, bob), heartbeat=True) as b:
        async with online(node.url, await new_device(node.url, alice, "second"), heartbeat=True):
            event = await next_event(b, PresenceEvent)
            assert (event.presence.user, event.presence.online) == (alice.user, True)
            async with online(node.url, await new_device(node.url, alice, "third"), heartbeat=True):
                await trio.sleep(0.5)
                assert not [ev for ev in queued_events(b) if isinstance(ev, PresenceEvent)]


async def test_silent_device_is_closed_with_bye_idle(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    async with online(node.url, await new_device(node.url, alice), heartbeat=False) as silent:
        bye = await next_event(silent, ByeEvent, timeout=node.config.limits.idle_timeout + 5)
        assert bye.reason == "idle"
        await silent.wait_closed()


async def test_pinging_device_stays_connected_past_the_idle_timeout(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    async with online(node.url, await new_device(node.url, alice), heartbeat=True) as pinging:
        await trio.sleep(node.config.limits.idle_timeout * 2)
        assert not pinging.closed
        assert not [ev for ev in queued_events(pinging) if isinstance(ev, ByeEvent)]


async def test_typing_reaches_the_others_and_never_the_typist(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with (
        online(node.url, await new_device(node.url, alice, "phone"), heartbeat=True) as phone,
        online(node.url, await new_device(node.url, alice, "laptop"), heartbeat=True) as laptop,
        online(node.url, await new_device(node.url, bob), heartbeat=True) as b,
    ):
        channel = await phone.direct(bob.user)
        await phone.typing(channel)
        event = await next_event(b, TypingEvent)
        assert (event.channel, event.user) == (channel, alice.user)
        # A message after it is the fence: a typing echo would arrive first.
        await b.send(channel, "fence")
        for conn in (phone, laptop):
            await messages(conn, 1)
            assert not [ev for ev in queued_events(conn) if isinstance(ev, TypingEvent)]


async def test_receipts_move_forward_only_reach_everyone_and_are_stored(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    bob_phone, bob_laptop = await new_device(node.url, bob, "phone"), await new_device(node.url, bob, "laptop")
    async with online(node.url, await new_device(node.url, alice), heartbeat=True) as a:
        channel = await a.direct(bob.user)
        for i in range(5):
            await a.send(channel, f"m{i}")
        async with online(node.url, bob_phone, heartbeat=True) as phone, online(node.url, bob_laptop, heartbeat=True) as laptop:
            await phone.read(channel, 3)
            for conn in (a, laptop):
                receipt = await next_event(conn, ReceiptEvent)
                assert (receipt.channel, receipt.user, receipt.seq) == (channel, bob.user, 3)
            await phone.read(channel, 2)  # backwards: ignored
            await phone.read(channel, 99)  # past the end: capped at the last seq
            for conn in (a, laptop):
                receipt = await next_event(conn, ReceiptEvent)
                assert receipt.seq == 5
            await a.send(channel, "fence")
            await messages(phone, 1)
            assert not [ev for ev in queued_events(phone) if isinstance(ev, ReceiptEvent)], "not to the reader"
        async with online(node.url, bob_laptop, heartbeat=True) as laptop:
            (info,) = await laptop.channels()
            assert info.read == 5, "the marker survived the reconnect"
        assert not [ev for ev in queued_events(a) if isinstance(ev, ReceiptEvent) and ev.seq == 2]


async def test_typing_and_read_are_for_members_only(node: Node) -> None:
    alice, bob, eve = [await sign_up(node.url, n) for n in ("alice", "bob", "eve")]
    async with (
        online(node.url, await new_device(node.url, alice), heartbeat=True) as a,
        online(node.url, await new_device(node.url, eve), heartbeat=True) as e,
    ):
        channel = await a.direct(bob.user)
        with pytest.raises(NotMember):
            await e.typing(channel)
        with pytest.raises(NotMember):
            await e.read(channel, 1)


async def test_a_device_waiting_on_its_own_request_is_not_closed_as_idle(
    limits: Limits, tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A backup (another connection) holds the database's write lock for
    longer than the idle timeout while the device's `group` request waits on
    it; the device sends nothing else meanwhile. Waiting on the node is not
    silence: it gets its answer, not `bye` idle."""
    path = tmp_path / "chat.db"
    held = limits.idle_timeout + 1.5
    store = await EmbeddedStore.open(path, busy_timeout=held + 5)
    node = await nursery.start(Node(node_config(limits=limits), store).run)
    alice = await sign_up(node.url, "alice")
    async with online(node.url, await new_device(node.url, alice), heartbeat=False) as device:
        backup = sqlite3.connect(path, isolation_level=None)
        backup.execute("BEGIN IMMEDIATE")
        created: list[int] = []

        async def create_group() -> None:
            created.append(await device.group("held up", []))

        async with trio.open_nursery() as waiting:
            waiting.start_soon(create_group)
            await trio.sleep(held)  # past the idle timeout, the request in flight
            assert not created, "the store was locked all along"
            backup.execute("ROLLBACK")
            backup.close()
        assert not device.closed
        assert not [ev for ev in queued_events(device) if isinstance(ev, ByeEvent)]
        # Silent from here on: closed as idle once the timeout has passed again.
        bye = await next_event(device, ByeEvent, timeout=limits.idle_timeout + 5)
        assert bye.reason == "idle"
    await node.drain()
    await store.aclose()
