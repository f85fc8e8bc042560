"""The chat over real sockets: 1:1, groups, devices, dedup, membership, limits."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import AsyncExitStack, closing
from pathlib import Path

import pytest
import trio
from trio_websocket import open_websocket_url

from actors import Node
from storage import EmbeddedStore
from client import (
    BadToken,
    ByeEvent,
    ChannelEvent,
    Connection,
    Message,
    NotFound,
    NotGroup,
    NotMember,
    TooLong,
    TooManyMembers,
)

from . import raw
from .conftest import node_config
from .people import messages, new_device, next_event, online, queued_events, sign_up


async def test_direct_chat_both_ways_with_seqs_in_order(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        online(node.url, await new_device(node.url, bob)) as b,
    ):
        channel = await a.direct(bob.user)
        assert await b.direct(alice.user) == channel, "one direct channel per pair"
        seqs = []
        for i in range(3):
            seqs.append((await a.send(channel, f"hello {i}")).seq)
            seqs.append((await b.send(channel, f"hi {i}")).seq)
        assert seqs == [1, 2, 3, 4, 5, 6]
        to_bob = await messages(b, 3)
        to_alice = await messages(a, 3)
    assert [(m.seq, m.body, m.sender) for m in to_bob] == [
        (1, "hello 0", alice.user),
        (3, "hello 1", alice.user),
        (5, "hello 2", alice.user),
    ]
    assert [(m.seq, m.body, m.sender) for m in to_alice] == [
        (2, "hi 0", bob.user),
        (4, "hi 1", bob.user),
        (6, "hi 2", bob.user),
    ]


async def test_new_direct_channel_is_announced_to_both(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        online(node.url, await new_device(node.url, bob)) as b,
    ):
        channel = await a.direct(bob.user)
        for conn in (a, b):
            event = await next_event(conn, ChannelEvent)
            assert (event.channel, event.members) == (channel, frozenset({alice.user, bob.user}))


async def test_direct_with_unknown_user_is_not_found(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    async with online(node.url, await new_device(node.url, alice)) as a:
        with pytest.raises(NotFound):
            await a.direct(12345)


async def test_group_of_100_delivers_each_message_once_to_every_member(node: Node) -> None:
    people = [await sign_up(node.url, "member") for _ in range(100)]
    others = people[1:]  # people[0] creates the group
    # Log every device in first: a hundred logins take longer than the idle
    # timeout on a busy machine, and a connection must not wait through them.
    devices = [await new_device(node.url, p) for p in people]
    async with AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(online(node.url, d, heartbeat=True)) for d in devices]
        sender, receivers = conns[0], conns[1:]
        channel = await sender.group("the hundred", [p.user for p in others])
        latecomer = await sign_up(node.url, "latecomer")
        with pytest.raises(TooManyMembers):
            await sender.invite(channel, [latecomer.user])
        sent = [(await sender.send(channel, f"to all {i}")).seq for i in range(3)]
        assert sent == [1, 2, 3]
        for conn in receivers:
            assert [m.seq for m in await messages(conn, 3)] == [1, 2, 3]
        # One more message as a fence: had anything been delivered twice,
        # it would sit between seq 3 and this one.
        await sender.send(channel, "fence")
        for conn in receivers:
            assert [m.body for m in await messages(conn, 1)] == ["fence"]
            assert not [e for e in queued_events(conn) if isinstance(e, Message)]
        assert {c.channel for c in await sender.channels()} == {channel}
        info = (await sender.channels())[0]
        assert (info.kind.value, len(info.members), info.last) == ("group", 100, 4)


async def test_channels_lists_channels_with_and_without_an_active_actor_alike(node: Node) -> None:
    """`channels` answers an active channel from its actor and the others from
    the store; the reply must not show which."""
    alice, bob, carol = [await sign_up(node.url, n) for n in ("alice", "bob", "carol")]
    async with online(node.url, await new_device(node.url, alice)) as a:
        direct = await a.direct(bob.user)
        group = await a.group("trio", [bob.user, carol.user])
        for i in range(3):
            await a.send(direct, f"direct {i}")
        await a.send(group, "group")
        channels = node.services.channels
        channels.passivate(("channel", group))
        with trio.fail_after(10):
            while channels.is_active(("channel", group)):
                await trio.sleep(0.01)
        assert channels.is_active(("channel", direct))
        listed = {info.channel: info for info in await a.channels()}
    assert listed.keys() == {direct, group}
    assert (listed[direct].kind.value, listed[direct].members, listed[direct].last) == (
        "direct",
        frozenset({alice.user, bob.user}),
        3,
    )
    assert (listed[group].kind.value, listed[group].name, listed[group].members, listed[group].last) == (
        "group",
        "trio",
        frozenset({alice.user, bob.user, carol.user}),
        1,
    )


async def test_channels_takes_an_active_channel_from_its_actor(tmp_path: Path, nursery: trio.Nursery) -> None:
    """Shown by deleting the channel's stored row behind the node's back:
    read from the store, the channel would be missing from the reply."""
    path = tmp_path / "chat.db"
    store = await EmbeddedStore.open(path)
    node = await nursery.start(Node(node_config(), store).run)
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with online(node.url, await new_device(node.url, alice)) as a:
        direct = await a.direct(bob.user)
        await a.send(direct, "hello")
        assert node.services.channels.is_active(("channel", direct))
        with closing(sqlite3.connect(path, isolation_level=None)) as behind_its_back:
            behind_its_back.execute("DELETE FROM channels WHERE channel = ?", (direct,))
        [info] = await a.channels()
        assert (info.channel, info.members, info.last) == (direct, frozenset({alice.user, bob.user}), 1)
    await node.drain()
    await store.aclose()


async def test_group_of_101_is_refused(node: Node) -> None:
    people = [await sign_up(node.url, "member") for _ in range(101)]
    async with online(node.url, await new_device(node.url, people[0])) as creator:
        with pytest.raises(TooManyMembers):
            await creator.group("too many", [p.user for p in people[1:]])
        assert await creator.channels() == ()


async def test_invite_and_leave(node: Node) -> None:
    alice, bob, carol = [await sign_up(node.url, n) for n in ("alice", "bob", "carol")]
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        online(node.url, await new_device(node.url, carol)) as c,
    ):
        group = await a.group("friends", [bob.user])
        with pytest.raises(NotMember):
            await c.send(group, "let me in")
        await a.invite(group, [carol.user])
        event = await next_event(c, ChannelEvent)
        assert event.members == frozenset({alice.user, bob.user, carol.user})
        assert (await c.send(group, "thanks")).seq == 1
        await c.leave(group)
        with pytest.raises(NotMember):
            await c.send(group, "still here?")
        with pytest.raises(NotFound):
            await a.invite(group, [987654321])
        direct = await a.direct(bob.user)
        with pytest.raises(NotGroup):
            await a.invite(direct, [carol.user])
        with pytest.raises(NotGroup):
            await a.leave(direct)


async def test_longest_body_round_trips_and_one_more_is_too_long(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    longest = ("\U0001f600" * 50_000) + ("x" * 49_999) + "\u00e9"  # 4-, 1- and 2-byte characters
    assert len(longest) == node.config.limits.max_body_chars
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        online(node.url, await new_device(node.url, bob)) as b,
    ):
        channel = await a.direct(bob.user)
        with pytest.raises(TooLong):
            await a.send(channel, longest + "x")
        sent = await a.send(channel, longest)
        assert sent.seq == 1, "the refused send used no seq"
        (delivered,) = await messages(b, 1)
        assert delivered.body == longest
        (synced,) = (await b.sync(channel, 0)).messages
        assert synced.body == longest


async def test_every_device_gets_every_message_and_sync_fills_an_absence(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    phone, laptop, tablet = [await new_device(node.url, bob, name) for name in ("phone", "laptop", "tablet")]
    async with online(node.url, await new_device(node.url, alice)) as a:
        channel = await a.direct(bob.user)
        async with online(node.url, phone) as p, online(node.url, laptop) as l:
            async with online(node.url, tablet) as t:
                await a.send(channel, "to all three")
                for conn in (p, l, t):
                    assert [m.body for m in await messages(conn, 1)] == ["to all three"]
            # The tablet is offline for ten messages.
            for i in range(10):
                await a.send(channel, f"while away {i}")
            for conn in (p, l):
                assert [m.seq for m in await messages(conn, 10)] == list(range(2, 12))
        async with online(node.url, tablet) as t:
            (info,) = await t.channels()
            assert info.last == 11
            page = await t.sync(channel, after=1)
            assert [m.body for m in page.messages] == [f"while away {i}" for i in range(10)]
            assert not page.more


async def test_own_other_devices_receive_what_one_device_sends(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    phone_device = await new_device(node.url, alice, "phone")
    async with (
        online(node.url, phone_device) as phone,
        online(node.url, await new_device(node.url, alice, "laptop")) as laptop,
    ):
        channel = await phone.direct(bob.user)
        await phone.send(channel, "from the phone")
        (seen,) = await messages(laptop, 1)
        assert (seen.body, seen.sender, seen.device) == ("from the phone", alice.user, phone_device.device)
        # The fence: the laptop's own message comes back to the phone, and
        # had the phone been sent its own, that would have come first.
        await laptop.send(channel, "from the laptop")
        (echo,) = await messages(phone, 1)
        assert echo.body == "from the laptop"


async def test_other_tabs_of_the_sending_device_receive_what_it_sends(node: Node) -> None:
    """Two connections of one token (two tabs of a browser): the message goes
    to every connection but the one that sent it, as the protocol says."""
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    browser = await new_device(node.url, alice, "browser")
    async with online(node.url, browser) as tab, online(node.url, browser) as other_tab:
        channel = await tab.direct(bob.user)
        await tab.send(channel, "from one tab")
        (seen,) = await messages(other_tab, 1)
        assert (seen.body, seen.device) == ("from one tab", browser.device)
        # The fence, as above: the other tab's message reaches the first,
        # which would have seen its own first had it been sent it.
        await other_tab.send(channel, "from the other tab")
        (echo,) = await messages(tab, 1)
        assert echo.body == "from the other tab"


async def test_retried_send_with_same_cid_is_stored_once(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    credentials = await new_device(node.url, alice)
    async with online(node.url, credentials) as a:
        channel = await a.direct(bob.user)
        first = await a.send(channel, "only once", cid="retry-me")
        again = await a.send(channel, "only once", cid="retry-me")
    async with online(node.url, credentials) as a:
        after_reconnect = await a.send(channel, "only once", cid="retry-me")
        page = await a.sync(channel, 0)
    assert first == again == after_reconnect
    assert [m.cid for m in page.messages] == ["retry-me"]


async def test_non_members_cannot_send_sync_or_read_history(node: Node) -> None:
    alice, bob, eve = [await sign_up(node.url, n) for n in ("alice", "bob", "eve")]
    async with (
        online(node.url, await new_device(node.url, alice)) as a,
        online(node.url, await new_device(node.url, eve)) as e,
    ):
        channel = await a.direct(bob.user)
        await a.send(channel, "private")
        with pytest.raises(NotMember):
            await e.send(channel, "let me in")
        with pytest.raises(NotMember):
            await e.sync(channel, 0)
        with pytest.raises(NotMember):
            await e.history(channel, 10)
        with pytest.raises(NotMember):
            await e.sync(424242, 0)


async def test_history_pages_newest_first(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with online(node.url, await new_device(node.url, alice)) as a:
        channel = await a.direct(bob.user)
        for i in range(7):
            await a.send(channel, f"m{i + 1}")
        newest = await a.history(channel, before=8, limit=3)
        assert ([m.seq for m in newest.messages], newest.more) == ([5, 6, 7], True)
        oldest = await a.history(channel, before=2, limit=3)
        assert ([m.seq for m in oldest.messages], oldest.more) == ([1], False)
        page = await a.sync(channel, after=2, limit=3)
        assert ([m.seq for m in page.messages], page.more) == ([3, 4, 5], True)


async def test_revoked_device_is_refused_and_its_connection_gets_bye(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    phone, laptop = await new_device(node.url, alice, "phone"), await new_device(node.url, alice, "laptop")
    async with online(node.url, phone) as p, online(node.url, laptop) as l:
        names = {d.name for d in await p.devices()}
        assert names == {"phone", "laptop"}
        await p.revoke(laptop.device)
        bye = await next_event(l, ByeEvent)
        assert bye.reason == "revoked"
        await l.wait_closed()
        assert {d.name for d in await p.devices()} == {"phone"}
        with pytest.raises(NotFound):
            await p.revoke(laptop.device)
    async with Connection.open(node.url) as conn:
        with pytest.raises(BadToken):
            await conn.auth(laptop.token)


async def test_logout_revokes_this_device(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    phone = await new_device(node.url, alice, "phone")
    async with online(node.url, phone) as p:
        await p.logout()
        await p.wait_closed()
    async with Connection.open(node.url) as conn:
        with pytest.raises(BadToken):
            await conn.auth(phone.token)


async def test_lookup(node: Node) -> None:
    alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
    async with online(node.url, await new_device(node.url, alice)) as a:
        assert await a.lookup(bob.username) == bob.user
        with pytest.raises(NotFound):
            await a.lookup("nobody_by_this_name")


async def test_made_up_channel_ids_leave_no_actors_behind(node: Node) -> None:
    alice = await sign_up(node.url, "alice")
    async with online(node.url, await new_device(node.url, alice)) as a:
        before = len(node.services.channels)
        for made_up in range(1, 51):
            with pytest.raises(NotMember):
                await a.sync(made_up, 0)
        await trio.sleep(0.1)
        assert len(node.services.channels) == before


async def test_a_burst_of_pipelined_sends_is_stored_gapless_in_each_devices_order(node: Node) -> None:
    """More sends in flight than one append stores at once (the channel
    batches what queued up), with retries of some of them inside the burst."""
    burst = 90  # over the channel's batch of 64, under the send burst of 100
    async with open_websocket_url(node.url) as alice, open_websocket_url(node.url) as bob:
        await raw.sign_up(alice, f"alice-{secrets.token_hex(4)}")
        bob_auth = await raw.sign_up(bob, f"bob-{secrets.token_hex(4)}")
        channel = (await raw.call(alice, t="direct", user=bob_auth["user"]))["channel"]
        sent: dict[int, str] = {}  # request id -> cid
        for i in range(burst):
            cid = f"burst-{i - 1 if i % 10 == 9 else i}"  # every tenth retries the one before
            sent[await raw.send_frame(alice, t="send", channel=channel, body=cid, cid=cid)] = cid
        replies: dict[int, dict[str, object]] = {}
        with trio.fail_after(30):
            while len(replies) < burst:
                frame = await raw.next_frame(alice)
                if frame["t"] in ("ok", "err"):
                    replies[frame["id"]] = frame
            delivered = []
            while len(delivered) < burst - burst // 10:
                frame = await raw.next_frame(bob)
                if frame["t"] == "msg":  # not the channel's announcement
                    delivered.append(frame)
    assert all(reply["t"] == "ok" for reply in replies.values()), replies
    seq_of_cid: dict[str, int] = {}
    for request_id, cid in sent.items():  # in the order sent
        seq = replies[request_id]["seq"]
        assert seq_of_cid.setdefault(cid, seq) == seq, f"{cid} answered two seqs"
    assert list(seq_of_cid.values()) == list(range(1, len(seq_of_cid) + 1)), "gapless, in send order"
    assert [(m["seq"], m["cid"]) for m in delivered] == list(zip(seq_of_cid.values(), seq_of_cid))
