"""APNs through the local APNs: HTTP/2 only, the provider token checked, 410's timestamp weighed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protocol import PushKind
from push import Failure, Notification, Preview, Target, Urgency, new_preview_key, open_preview

from .conftest import Providers
from .servers import Answer, apns_error
from .test_webpush import settle

DEVICE = "ab" * 32


def note(target: Target | None = None, channel: int = 3, **extra: Any) -> Notification:
    t = target or Target(PushKind.APNS, DEVICE, registered=1_000)
    return Notification(("u", "d", channel), t, channel=channel, seq=9, unread=4, **extra)


async def test_a_message_is_an_alert_with_no_text_of_ours(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    pusher.offer(note(ttl=0))
    [got] = await providers.apns.wait_for(1)
    assert got.http_version == "2" and got.path == f"/3/device/{DEVICE}"
    assert {k: got.headers[k] for k in ("apns-push-type", "apns-priority", "apns-topic", "apns-collapse-id", "apns-expiration")} == {
        "apns-push-type": "alert", "apns-priority": "10", "apns-topic": "com.example.chat",
        "apns-collapse-id": "c3", "apns-expiration": "0",
    }  # fmt: skip
    assert got.message == {
        "aps": {"badge": 4, "alert": {"loc-key": "CHAT_NEW_MESSAGE"}, "sound": "default",
                "mutable-content": 1, "thread-id": "c3"},
        "channel": "3", "seq": "9", "unread": "4",
    }  # fmt: skip
    assert got.headers["host"].startswith("127.0.0.1:"), "a target without sandbox goes to production"


async def test_a_badge_update_is_low_priority_and_the_badge_alone(
    providers: Providers, start_pusher: Callable[..., Any]
) -> None:
    pusher = await start_pusher()
    sandboxed = Target(PushKind.APNS, DEVICE, {"sandbox": "true", "topic": "com.example.other"}.items())
    pusher.offer(note(sandboxed, urgency=Urgency.LOW))
    [got] = await providers.apns.wait_for(1)
    assert got.headers["apns-priority"] == "5" and got.headers["apns-topic"] == "com.example.other"
    assert got.message["aps"] == {"badge": 4}
    assert int(got.headers["apns-expiration"]) > 0


async def test_sandbox_targets_go_to_the_sandbox_host(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(concurrency=1)
    pusher.offer(note(Target(PushKind.APNS, DEVICE, {"sandbox": "true"}.items()), channel=1))
    pusher.offer(note(Target(PushKind.APNS, DEVICE, {"sandbox": "false"}.items()), channel=2))
    sandbox, production = await providers.apns.wait_for(2)
    assert sandbox.headers["host"].startswith("localhost:") and production.headers["host"].startswith("127.0.0.1:")


async def test_the_provider_token_is_reused(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    for channel in (1, 2, 3):
        pusher.offer(note(channel=channel))
    await providers.apns.wait_for(3)
    assert len(providers.apns.tokens_seen) == 1


async def test_a_preview_is_sealed_to_the_device(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(previews=True)
    key = new_preview_key()
    pusher.offer(note(Target(PushKind.APNS, DEVICE, preview_key=key), preview=Preview(2, "on my way")))
    [got] = await providers.apns.wait_for(1)
    assert open_preview(key, got.message["preview"], channel=3, seq=9) == Preview(2, "on my way")


@pytest.mark.parametrize(
    ("answer", "gone"),
    [
        (apns_error(410, "Unregistered", timestamp=2_000), True),  # died after this target was registered
        (apns_error(410, "Unregistered", timestamp=500), False),  # died before: this registration is newer
        (apns_error(400, "BadDeviceToken"), True),
    ],
)
async def test_dead_tokens(providers: Providers, start_pusher: Callable[..., Any], answer: Answer, gone: bool) -> None:
    pusher = await start_pusher()
    providers.apns.answers.append(answer)
    pusher.offer(note())
    await providers.apns.wait_for(1)
    await settle(pusher)
    assert (len(providers.gone) == 1) is gone
    assert pusher.counters.failed == ({} if gone else {Failure.STALE: 1})


async def test_429_is_retried_and_a_refused_token_is_ours(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(concurrency=1)
    providers.apns.answers.extend([apns_error(429, "TooManyRequests"), apns_error(403, "InvalidProviderToken")])
    pusher.offer(note(channel=1))
    first, second = await providers.apns.wait_for(2)
    await settle(pusher)
    assert second.at - first.at >= 0.5, "the jittered back-off's first step"
    assert pusher.counters.failed == {Failure.CREDENTIALS: 1} and providers.gone == []
