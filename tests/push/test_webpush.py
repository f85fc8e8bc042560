"""Web Push and UnifiedPush through the local push service: TLS, HTTP/2, VAPID checked, payload decrypted."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import trio

from protocol import PushKind
from push import Failure, Notification, Preview, Pusher, Target, Urgency

from .conftest import Providers
from .servers import HANG, PATIENCE, Answer, Subscriber


def target(subscriber: Subscriber, kind: PushKind = PushKind.WEBPUSH, registered: int = 1) -> Target:
    return Target(kind, subscriber.endpoint, subscriber.fields.items(), registered=registered)


def note(t: Target, channel: int = 3, seq: int = 9, **extra: Any) -> Notification:
    return Notification(("user", "device", channel), t, channel=channel, seq=seq, unread=2, **extra)


async def settle(pusher: Pusher) -> None:
    """Until every queue is empty and nothing is in flight (the pusher has finished what it was given)."""
    with trio.fail_after(PATIENCE):
        while pusher.queued() or pusher.in_flight():
            await trio.sleep(0.01)


async def test_a_push_carries_channel_seq_and_unread_only(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    subscriber = providers.webpush.subscribe()
    assert pusher.offer(note(target(subscriber), preview=Preview(5, "secret text")))
    [got] = await providers.webpush.wait_for(1)
    assert got.message == {"channel": "3", "seq": "9", "unread": "2"}
    assert got.http_version == "2"
    assert (got.headers["ttl"], got.headers["urgency"], got.headers["topic"]) == ("86400", "high", "c3")
    await settle(pusher)
    assert pusher.counters.sent == 1


async def test_unifiedpush_uses_the_same_sender(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    subscriber = providers.webpush.subscribe()
    pusher.offer(note(target(subscriber, PushKind.UNIFIEDPUSH), urgency=Urgency.LOW, ttl=60))
    [got] = await providers.webpush.wait_for(1)
    assert got.message["seq"] == "9"
    assert (got.headers["ttl"], got.headers["urgency"]) == ("60", "low")


async def test_a_preview_rides_inside_the_encryption_when_the_operator_enables_it(
    providers: Providers, start_pusher: Callable[..., Any]
) -> None:
    pusher = await start_pusher(previews=True)
    subscriber = providers.webpush.subscribe()
    pusher.offer(note(target(subscriber), preview=Preview(5, "see you at noon")))
    [got] = await providers.webpush.wait_for(1)
    assert got.message["preview"] == {"sender": "5", "body": "see you at noon"}


async def test_a_newer_notification_replaces_the_pending_one(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(concurrency=1)
    subscriber = providers.webpush.subscribe()
    t = target(subscriber)
    for seq in range(1, 101):
        pusher.offer(note(t, seq=seq))
    pusher.offer(note(t, channel=4, seq=1))  # a fence: it goes after channel 3's one push
    first, fence = await providers.webpush.wait_for(2)
    assert (first.message["channel"], first.message["seq"]) == ("3", "100")
    assert fence.message["channel"] == "4"
    await settle(pusher)
    assert len(providers.webpush.received) == 2
    assert pusher.counters.collapsed == 99 and pusher.counters.sent == 2


async def test_a_withdrawn_push_is_not_sent(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(concurrency=1)
    subscriber = providers.webpush.subscribe()
    t = target(subscriber)
    pusher.offer(note(t, channel=1))
    assert pusher.withdraw(("user", "device", 1))
    pusher.offer(note(t, channel=2))
    [got] = await providers.webpush.wait_for(1)
    await settle(pusher)
    assert got.message["channel"] == "2" and len(providers.webpush.received) == 1


async def test_a_dead_subscription_is_reported_once(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(concurrency=1)
    subscriber = providers.webpush.subscribe()
    t = target(subscriber)
    providers.webpush.answers.extend([Answer(410), Answer(410)])
    for channel in (1, 2, 3):
        pusher.offer(note(t, channel=channel))
    await providers.webpush.wait_for(1)
    await settle(pusher)
    assert [n.target for n in providers.gone] == [t]
    assert pusher.counters.removed == 1
    assert len(providers.webpush.received) == 1, "its other pushes are not sent"
    assert not pusher.offer(note(t, channel=4))


async def test_a_failed_removal_is_counted_and_tried_again_at_the_next_push(
    providers: Providers, start_pusher: Callable[..., Any]
) -> None:
    calls: list[Notification] = []

    async def on_gone(notification: Notification) -> None:
        calls.append(notification)
        if len(calls) == 1:
            raise OSError("the store is down")
        providers.gone.append(notification)

    pusher = await start_pusher(on_gone, concurrency=1)
    t = target(providers.webpush.subscribe())
    providers.webpush.answers.extend([Answer(410), Answer(410)])
    pusher.offer(note(t, channel=1))
    await providers.webpush.wait_for(1)
    await settle(pusher)
    assert pusher.counters.failed == {Failure.GONE_REPORT: 1} and providers.gone == []
    assert pusher.offer(note(t, channel=2)), "the target was not forgotten as gone"
    await providers.webpush.wait_for(2)
    await settle(pusher)
    assert [n.target for n in providers.gone] == [t]


async def test_404_is_gone_too(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    t = target(providers.webpush.subscribe())
    providers.webpush.answers.append(Answer(404))
    pusher.offer(note(t))
    await providers.webpush.wait_for(1)
    await settle(pusher)
    assert [n.target for n in providers.gone] == [t]


async def test_429_is_retried_after_retry_after(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    providers.webpush.answers.append(Answer(429, (("retry-after", "1"),)))
    pusher.offer(note(target(providers.webpush.subscribe())))
    first, second = await providers.webpush.wait_for(2)
    assert second.at - first.at >= 1.0
    await settle(pusher)
    assert pusher.counters.sent == 1


async def test_500_is_retried_with_back_off_and_gives_up_after_its_tries(
    providers: Providers, start_pusher: Callable[..., Any]
) -> None:
    pusher = await start_pusher(tries=3)
    providers.webpush.answers.extend([Answer(500)] * 3)
    pusher.offer(note(target(providers.webpush.subscribe())))
    first, second, third = await providers.webpush.wait_for(3)
    await settle(pusher)
    # The back-off doubles: 0.5 s then 1 s (jitter pinned to its low end by the fixture).
    assert second.at - first.at >= 0.5 and third.at - second.at >= 1.0
    assert pusher.counters.failed == {Failure.EXHAUSTED: 1} and pusher.counters.sent == 0


async def test_our_refused_credentials_are_counted_not_blamed_on_the_target(
    providers: Providers, start_pusher: Callable[..., Any], caplog: Any
) -> None:
    pusher = await start_pusher()
    providers.webpush.answers.append(Answer(403))
    pusher.offer(note(target(providers.webpush.subscribe())))
    await providers.webpush.wait_for(1)
    await settle(pusher)
    assert pusher.counters.failed == {Failure.CREDENTIALS: 1}
    assert providers.gone == []
    assert any(r.levelname == "ERROR" and "refused this node's credentials" in r.message for r in caplog.records)


async def test_a_host_that_resolves_to_loopback_is_not_called(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    # Only 127.0.0.1 is allowed by name: "localhost" is looked up, and its address refused when dialling.
    pusher = await start_pusher(allowed_hosts={"127.0.0.1"})
    subscriber = providers.webpush.subscribe()
    t = Target(PushKind.WEBPUSH, subscriber.endpoint.replace("127.0.0.1", "localhost"), subscriber.fields.items())
    pusher.offer(note(t))
    await settle(pusher)
    assert pusher.counters.failed == {Failure.UNSAFE: 1}
    assert providers.webpush.received == []


async def test_a_hanging_provider_holds_a_bounded_number_and_never_blocks_offer(
    providers: Providers, start_pusher: Callable[..., Any]
) -> None:
    pusher = await start_pusher(queue_size=50, concurrency=4, timeout=PATIENCE)
    providers.webpush.success = HANG
    t = target(providers.webpush.subscribe())
    accepted = sum(pusher.offer(note(t, channel=channel)) for channel in range(1000))
    await providers.webpush.wait_for(4)
    assert pusher.in_flight() == 4
    # Four in flight, hanging; the other 46 of the fifty still queued; the rest refused at once.
    assert pusher.queued() == 46
    more = sum(pusher.offer(note(t, channel=channel)) for channel in range(1000, 2000))
    assert pusher.queued() == 50
    assert accepted == 50 and more == 4, "the four taken by workers made room for four"
    assert pusher.counters.dropped == 2000 - accepted - more


class _Resolver(trio.abc.HostnameResolver):
    """DNS that answers `name` with `addresses`: what a hostile domain's DNS would say."""

    def __init__(self, name: bytes, addresses: list[str]) -> None:
        self.name, self.addresses, self.asked = name, addresses, 0

    async def getaddrinfo(self, host: bytes | str | None, port: Any, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> list[Any]:  # fmt: skip
        hostname = host.encode() if isinstance(host, str) else host
        assert hostname == self.name, hostname
        self.asked += 1
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port)))
                for a in self.addresses]  # fmt: skip

    async def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        raise NotImplementedError


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["8.8.8.8", "127.0.0.1"], ["169.254.169.254"]])
async def test_a_public_name_whose_dns_answers_a_private_address_is_not_called(
    providers: Providers, start_pusher: Callable[..., Any], addresses: list[str]
) -> None:
    # The name passes the registration check; the address it resolves to is refused when dialling.
    resolver = _Resolver(b"push.example.com", addresses)
    trio.socket.set_custom_hostname_resolver(resolver)
    pusher = await start_pusher(allowed_hosts={"127.0.0.1"})
    subscriber = providers.webpush.subscribe()
    t = Target(PushKind.WEBPUSH, subscriber.endpoint.replace("127.0.0.1", "push.example.com"), subscriber.fields.items())
    pusher.check(t)
    pusher.offer(note(t))
    await settle(pusher)
    assert resolver.asked == 1
    assert pusher.counters.failed == {Failure.UNSAFE: 1}
    assert providers.webpush.received == []


async def test_a_stored_target_that_fails_todays_checks_is_refused_not_fatal(
    providers: Providers, start_pusher: Callable[..., Any]
) -> None:
    pusher = await start_pusher(concurrency=1)
    good = target(providers.webpush.subscribe())
    for channel, bad in enumerate((
        Target(PushKind.WEBPUSH, good.endpoint),  # no keys
        Target(PushKind.WEBPUSH, good.endpoint, {"p256dh": "AAAA", "auth": "AAAA"}.items()),
        Target(PushKind.WEBPUSH, "ftp://127.0.0.1/x", good.fields),
    )):
        pusher.offer(note(bad, channel=channel))
    pusher.offer(note(good, channel=99))
    [got] = await providers.webpush.wait_for(1)
    await settle(pusher)
    assert got.message["channel"] == "99"
    assert pusher.counters.failed == {Failure.REJECTED: 3} and pusher.counters.sent == 1
