"""Push end to end: a real node, real devices over sockets, real local providers over TLS and HTTP/2.

The providers (tests/push/servers.py) check what a push service checks
(VAPID, the service-account token) and decrypt what the device would read,
with the subscriber's private key the test holds. Nothing here is a double:
the node decides, its pusher sends, the provider answers from its script.

Where a test shows that something did *not* happen, it sends a later
message whose push must come (a marker): the user's actor takes the two in
order, so once the marker's push is in, the first one's decision is made.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from actors import Node
from protocol import Limits
from client import BadRequest, LoginResult, NotifyLevel, PushTarget
from push import open_preview
from push._crypto import unb64url

from ..conftest import OpenStore
from ..push.conftest import Providers, certificates, providers, rsa_key  # noqa: F401 (fixtures)
from ..push.servers import HANG, PATIENCE, Answer, Received, Subscriber
from .conftest import running_node
from .people import Person, messages, new_device, online, sign_up

#: The ack time-out of these nodes: short, for the test that waits it out.
ACK_TIMEOUT = 1.0


@asynccontextmanager
async def push_node(
    open_store: OpenStore, providers: Providers, node: dict[str, Any] | None = None, **push: Any
) -> AsyncIterator[Node]:
    """A node whose pusher sends to the local providers (`node`: NodeConfig overrides, `push`: PushConfig's)."""
    config = {"push_ack_timeout": ACK_TIMEOUT, **(node or {})}
    async with running_node(open_store, push=providers.config(**push), **config) as running:
        yield running


async def connections(node: Node, count: int = 0) -> None:
    """Sessions have ended until `count` are left: each has told its user's actor it is gone."""
    with trio.fail_after(PATIENCE):
        while node.gateway.connections > count:
            await trio.sleep(0.01)


async def phone_with_target(node: Node, person: Person, target: PushTarget) -> LoginResult:
    """A device of `person` that registered `target`, then went away."""
    phone = await new_device(node.url, person, "phone")
    async with online(node.url, phone) as conn:
        await conn.push(target)
    await connections(node)
    return phone


def web_push(subscriber: Subscriber) -> PushTarget:
    return PushTarget.webpush(subscriber.endpoint, subscriber.fields["p256dh"], subscriber.fields["auth"])


def for_subscriber(providers: Providers, subscriber: Subscriber) -> list[Received]:
    path = "/push/" + subscriber.endpoint.rsplit("/", 1)[1]
    return [r for r in providers.webpush.accepted() if r.path == path]


async def wait_for(subscriber_pushes: Any, count: int) -> list[Received]:
    """The first `count` pushes `subscriber_pushes()` lists, once they are in."""
    with trio.fail_after(PATIENCE):
        while len(found := subscriber_pushes()) < count:
            await trio.sleep(0.01)
    return found


async def sender_and_recipient(node: Node) -> tuple[Person, Person]:
    return await sign_up(node.url, "alice"), await sign_up(node.url, "bob")


# -- a device that is not connected -------------------------------------------------------


async def test_a_device_with_no_connection_gets_exactly_one_decryptable_push_with_no_text(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            sent = await conn.send(channel, "the secret plans")
        [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        # Decrypted with the subscriber's key: what the phone's service worker reads.
        assert push.message == {"channel": str(channel), "seq": str(sent.seq), "unread": "1"}
        assert push.headers["topic"] == f"c{channel}" and push.headers["urgency"] == "high"
        with trio.fail_after(PATIENCE):
            while node.pusher.counters.sent < 1:
                await trio.sleep(0.01)
        assert node.pusher.queued() == 0 and len(providers.webpush.received) == 1, "exactly one"


async def test_a_message_wakes_the_actor_of_a_user_long_gone_to_push(open_store: OpenStore, providers: Providers) -> None:
    # Presence settles two seconds after the last device goes, and an idle actor passivates soon after.
    quick = {"limits": Limits(heartbeat=1, idle_heartbeats=2), "user_idle_after": 0.5}
    async with push_node(open_store, providers, quick) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        await phone_with_target(node, bob, web_push(subscriber))
        with trio.fail_after(PATIENCE):
            while node.services.user_active(bob.user):
                await trio.sleep(0.1)
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            sent = await conn.send(channel, "wake up")
        [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        assert push.message == {"channel": str(channel), "seq": str(sent.seq), "unread": "1"}


async def test_a_level_set_before_the_device_had_a_target_holds_once_it_has_one(
    open_store: OpenStore, providers: Providers
) -> None:
    quick = {"limits": Limits(heartbeat=1, idle_heartbeats=2), "user_idle_after": 0.5}
    async with push_node(open_store, providers, quick) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        phone = await new_device(node.url, bob, "phone")
        async with online(node.url, await new_device(node.url, alice), heartbeat=True) as conn:
            muted = await conn.direct(bob.user)
            other = await conn.group("other", [bob.user])
            async with online(node.url, phone) as bob_conn:
                await bob_conn.notify(muted, NotifyLevel.NONE)
            await connections(node, 1)
            with trio.fail_after(PATIENCE):  # gone, with what it knew
                while node.services.user_active(bob.user):
                    await trio.sleep(0.1)
            async with online(node.url, phone) as bob_conn:  # a fresh actor, no target yet
                await bob_conn.push(web_push(subscriber))
            await connections(node, 1)
            await conn.send(muted, "shh")
            marker = await conn.send(other, "marker")
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        assert (push.message["channel"], push.message["seq"]) == (str(other), str(marker.seq))


async def test_100_messages_while_offline_give_one_pending_push_updated_not_100(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        await phone_with_target(node, bob, web_push(subscriber))
        # The push service holds its answer to the first push until the other
        # 99 messages are in: whatever the pusher is offered meanwhile waits
        # behind it, under the same key.
        all_sent = trio.Event()
        providers.webpush.answers.append(Answer(201, after=all_sent))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            await conn.send(channel, "message 1")
            await wait_for(lambda: for_subscriber(providers, subscriber), 1)  # held
            for i in range(2, 101):
                await conn.send(channel, f"message {i}")
            assert node.pusher.queued() == 1, "one pending push, not 99"
            all_sent.set()
            first, second = await wait_for(lambda: for_subscriber(providers, subscriber), 2)
        assert (first.message["seq"], second.message["seq"]) == ("1", "100")
        assert second.message["unread"] == "100"
        assert node.pusher.counters.collapsed == 98, "each offer after the second replaced the one waiting"
        assert len(providers.webpush.received) == 2


# -- a connected device, and its acks -----------------------------------------------------------


async def test_a_connected_device_that_does_not_ack_gets_a_push_after_the_time_out(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, phone) as bob_conn, online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            sending_at = trio.current_time()
            await conn.send(channel, "are you there?")
            [message] = await messages(bob_conn, 1)  # delivered, never acked
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        assert push.message["seq"] == str(message.seq)
        assert push.at - sending_at >= ACK_TIMEOUT, "not before the ack time-out"


async def test_a_device_that_registers_while_connected_counts_as_connected(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        async with online(node.url, await new_device(node.url, bob)) as bob_conn, online(
            node.url, await new_device(node.url, alice)
        ) as conn:
            await bob_conn.push(web_push(subscriber))  # bob's first target: the actor's push side starts now
            channel = await conn.direct(bob.user)
            sending_at = trio.current_time()
            await conn.send(channel, "are you there?")
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        assert push.at - sending_at >= ACK_TIMEOUT, "connected: pushed only once the ack is late"


async def test_a_connected_device_that_acks_gets_no_push(open_store: OpenStore, providers: Providers) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, phone) as bob_conn, online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            await conn.send(channel, "are you there?")
            [message] = await messages(bob_conn, 1)
            await bob_conn.ack(channel, message.seq)
            await trio.sleep(3 * ACK_TIMEOUT)
            # The marker: a message the phone does not ack is pushed; the acked one never was.
            marker = await conn.send(channel, "marker")
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        assert push.message["seq"] == str(marker.seq)
        assert len(providers.webpush.received) == 1


async def test_a_read_elsewhere_sends_the_notified_device_a_low_urgency_badge_update(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            await conn.send(channel, "one")
            await wait_for(lambda: for_subscriber(providers, subscriber), 1)
            two = await conn.send(channel, "two")
            await wait_for(lambda: for_subscriber(providers, subscriber), 2)
            async with online(node.url, await new_device(node.url, bob, "laptop")) as laptop:
                await laptop.read(channel, two.seq)
                *_, update = await wait_for(lambda: for_subscriber(providers, subscriber), 3)
        assert update.message == {"channel": str(channel), "seq": str(two.seq), "unread": "0"}
        assert update.headers["urgency"] == "low" and update.headers["topic"] == f"c{channel}"


# -- levels and mentions --------------------------------------------------------------------------


async def test_notify_none_holds_until_its_until_and_channels_say_it(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            muted = await conn.direct(bob.user)
            other = await conn.group("other", [bob.user])
            until = node.services.clock_ms() + 3_000
            async with online(node.url, phone) as bob_conn:
                await bob_conn.notify(muted, NotifyLevel.NONE, until)
                levels = {info.channel: info.notify for info in await bob_conn.channels()}
                assert levels == {muted: NotifyLevel.NONE, other: None}
            await connections(node, 1)
            await conn.send(muted, "shh")
            marker = await conn.send(other, "marker")
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
            assert push.message["channel"] == str(other) and push.message["seq"] == str(marker.seq)
            with trio.fail_after(PATIENCE):
                while node.services.clock_ms() < until:
                    await trio.sleep(0.1)
            again = await conn.send(muted, "now?")
            _, after = await wait_for(lambda: for_subscriber(providers, subscriber), 2)
        assert after.message["channel"] == str(muted) and after.message["seq"] == str(again.seq)


async def test_notify_none_for_good_and_all_again(open_store: OpenStore, providers: Providers) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            async with online(node.url, phone) as bob_conn:
                await bob_conn.notify(channel, "none")
            await connections(node, 1)
            await conn.send(channel, "shh")
            async with online(node.url, phone) as bob_conn:
                await bob_conn.notify(channel, "all")
                assert [info.notify for info in await bob_conn.channels()] == [None]
            await connections(node, 1)
            marker = await conn.send(channel, "marker")
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
        assert push.message["seq"] == str(marker.seq), "the muted message pushed nothing"


async def test_a_mention_passes_the_mentions_level(open_store: OpenStore, providers: Providers) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(subscriber))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            group = await conn.group("team", [bob.user])
            async with online(node.url, phone) as bob_conn:
                await bob_conn.notify(group, NotifyLevel.MENTIONS)
            await connections(node, 1)
            await conn.send(group, "lunch, anyone?")
            await conn.send(group, "lunch?", mentions=[alice.user])
            mention = await conn.send(group, "@bob lunch?", mentions=[bob.user])
            [push] = await wait_for(lambda: for_subscriber(providers, subscriber), 1)
            with pytest.raises(BadRequest, match="mentions must be members"):
                await conn.send(group, "@nobody", mentions=[bob.user + 1])
        assert push.message["seq"] == str(mention.seq)


# -- the provider's answers ---------------------------------------------------------------------------


async def test_a_410_removes_the_target(open_store: OpenStore, providers: Providers) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        await phone_with_target(node, bob, web_push(subscriber))
        providers.webpush.answers.append(Answer(410))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            await conn.send(channel, "hello?")
            await wait_for(lambda: for_subscriber(providers, subscriber), 1)
            with trio.fail_after(PATIENCE):
                while await node.services.store.push_targets(bob.user):
                    await trio.sleep(0.05)
        assert node.pusher.counters.removed == 1
        assert len(providers.webpush.received) == 1


async def test_a_target_registered_again_while_the_old_one_is_found_gone_survives(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        old, new = providers.webpush.subscribe(), providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(old))
        # The push service holds its answer (410) to the old subscription's
        # push until the phone has subscribed anew.
        subscribed = trio.Event()
        providers.webpush.answers.append(Answer(410, after=subscribed))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            await conn.send(channel, "hello?")
            await wait_for(lambda: for_subscriber(providers, old), 1)
            async with online(node.url, phone) as bob_conn:
                await bob_conn.push(web_push(new))
            await connections(node, 1)
            subscribed.set()
            with trio.fail_after(PATIENCE):
                while node.pusher.counters.removed < 1:
                    await trio.sleep(0.01)
            [(device, kept)] = (await node.services.store.push_targets(bob.user)).items()
            assert (device, kept.endpoint) == (phone.device, new.endpoint)
            marker = await conn.send(channel, "marker")
            [push] = await wait_for(lambda: for_subscriber(providers, new), 1)
        assert push.message["seq"] == str(marker.seq), "the actor kept the new target too"


async def test_a_429_is_retried_after_its_retry_after(open_store: OpenStore, providers: Providers) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        subscriber = providers.webpush.subscribe()
        await phone_with_target(node, bob, web_push(subscriber))
        providers.webpush.answers.append(Answer(429, (("retry-after", "2"),)))
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            sent = await conn.send(channel, "hello?")
            refused, accepted = await wait_for(lambda: for_subscriber(providers, subscriber), 2)
        assert refused.message == accepted.message == {"channel": str(channel), "seq": str(sent.seq), "unread": "1"}
        assert accepted.at - refused.at >= 2.0, "not before Retry-After"


async def test_a_provider_that_hangs_leaves_delivery_and_node_memory_alone(
    open_store: OpenStore, providers: Providers
) -> None:
    """Every push hangs: the pusher holds what its queue bounds; messages flow as before."""
    queue = 50
    providers.webpush.success = HANG
    async with push_node(open_store, providers, queue_size=queue, concurrency=4, timeout=30.0) as node:
        alice, reader = await sign_up(node.url, "alice"), await sign_up(node.url, "reader")
        offline = [await sign_up(node.url, "offline") for _ in range(60)]
        for person in offline:
            await phone_with_target(node, person, web_push(providers.webpush.subscribe()))
        group_members = [reader.user, *(person.user for person in offline)]
        async with online(node.url, await new_device(node.url, reader)) as reading, online(
            node.url, await new_device(node.url, alice)
        ) as conn:
            group = await conn.group("everyone", group_members)
            before = _rss()
            for i in range(100):  # the send burst
                await conn.send(group, f"message {i}")
            got = await messages(reading, 100, timeout=PATIENCE)
            grown = _rss() - before
        assert [m.seq for m in got] == list(range(1, 101)), "the reader got every message live"
        assert node.pusher.queued() <= queue
        assert node.pusher.counters.dropped > 0, "the queue was full: newcomers dropped, not held"
        print(f"node (in the test's process) grew {grown / 2**20:.1f} MiB with the provider hanging")
        assert grown < 64 * 2**20


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# -- targets, previews, refusals ----------------------------------------------------------------------


async def test_an_unconfigured_providers_targets_are_refused_with_a_clear_message(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers, fcm=None) as node:
        bob = await sign_up(node.url, "bob")
        async with online(node.url, await new_device(node.url, bob)) as conn:
            with pytest.raises(BadRequest, match="fcm push is not configured on this node"):
                await conn.push(PushTarget.fcm("registration-token"))
            with pytest.raises(BadRequest, match="https"):
                await conn.push(PushTarget.webpush("http://127.0.0.1/x", "k", "a"))
        assert await node.services.store.push_targets(bob.user) == {}


async def test_a_device_that_asks_for_previews_gets_them_sealed_with_the_key_it_was_given_once(
    open_store: OpenStore, providers: Providers
) -> None:
    async with push_node(open_store, providers, previews=True) as node:
        alice, bob = await sender_and_recipient(node)
        phone = await new_device(node.url, bob, "phone")
        async with online(node.url, phone) as conn:
            key = await conn.push(PushTarget.fcm("fcm-registration-token"), preview=True)
            assert key is not None
            assert await conn.push(PushTarget.fcm("fcm-registration-token")) is None, "no preview asked, no key"
            key = await conn.push(PushTarget.fcm("fcm-registration-token"), preview=True)
        await connections(node)
        assert key is not None
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            sent = await conn.send(channel, "see you at eight")
        [push] = await providers.fcm.wait_for(1)
        data = push.message["data"]
        assert "see you" not in str(push.message)
        preview = open_preview(unb64url(key), data["preview"], channel, sent.seq)
        assert (preview.sender, preview.body) == (alice.user, "see you at eight")


async def test_a_revoked_device_is_pushed_no_more(open_store: OpenStore, providers: Providers) -> None:
    async with push_node(open_store, providers) as node:
        alice, bob = await sender_and_recipient(node)
        revoked, kept = providers.webpush.subscribe(), providers.webpush.subscribe()
        phone = await phone_with_target(node, bob, web_push(revoked))
        tablet = await phone_with_target(node, bob, web_push(kept))
        async with online(node.url, tablet) as bob_conn:
            await bob_conn.revoke(phone.device)
        await connections(node)
        assert set(await node.services.store.push_targets(bob.user)) == {tablet.device}
        async with online(node.url, await new_device(node.url, alice)) as conn:
            channel = await conn.direct(bob.user)
            await conn.send(channel, "hi")
        await wait_for(lambda: for_subscriber(providers, kept), 1)
        assert for_subscriber(providers, revoked) == []
