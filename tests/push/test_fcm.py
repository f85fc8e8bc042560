"""FCM HTTP v1 through the local FCM: the service-account assertion checked, the token cached, errors mapped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol import PushKind
from push import Failure, Notification, Preview, Target, Urgency, new_preview_key, open_preview

from .conftest import Providers
from .servers import Answer, fcm_error
from .test_webpush import settle

TOKEN = "cX9a:APA91bH-fcm_token"


def note(channel: int = 3, seq: int = 9, target: Target | None = None, **extra: Any) -> Notification:
    t = target or Target(PushKind.FCM, TOKEN, registered=1)
    return Notification(("u", "d", channel), t, channel=channel, seq=seq, unread=4, **extra)


async def test_a_data_message_collapsed_per_channel(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    pusher.offer(note(preview=Preview(1, "not without previews")))
    [got] = await providers.fcm.wait_for(1)
    assert got.message == {
        "token": TOKEN,
        "data": {"channel": "3", "seq": "9", "unread": "4"},
        "android": {"collapse_key": "c3", "priority": "HIGH", "ttl": "86400s"},
    }
    pusher.offer(note(channel=5, urgency=Urgency.LOW))
    [_, badge] = await providers.fcm.wait_for(2)
    assert badge.message["android"]["priority"] == "NORMAL"
    assert providers.fcm.assertions == 1, "the access token is reused"


async def test_the_token_is_fetched_again_before_it_expires(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    providers.fcm.token_lifetime = 300  # within the five minutes' margin: every push needs a new one
    pusher = await start_pusher(concurrency=1)
    pusher.offer(note(channel=1))
    await providers.fcm.wait_for(1)
    pusher.offer(note(channel=2))
    await providers.fcm.wait_for(2)
    assert providers.fcm.assertions == 2


async def test_a_preview_is_sealed_to_the_device(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(previews=True)
    key = new_preview_key()
    pusher.offer(note(target=Target(PushKind.FCM, TOKEN, preview_key=key), preview=Preview(8, "hello there")))
    [got] = await providers.fcm.wait_for(1)
    sealed = got.message["data"]["preview"]
    assert "hello" not in sealed
    assert open_preview(key, sealed, channel=3, seq=9) == Preview(8, "hello there")


async def test_a_preview_without_a_device_key_is_left_out(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher(previews=True)
    pusher.offer(note(preview=Preview(8, "hello there")))
    [got] = await providers.fcm.wait_for(1)
    assert "preview" not in got.message["data"]


async def test_unregistered_and_sender_id_mismatch_are_gone(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    providers.fcm.answers.extend([fcm_error(404, "UNREGISTERED", "NOT_FOUND"), fcm_error(403, "SENDER_ID_MISMATCH", "PERMISSION_DENIED")])
    one, two = Target(PushKind.FCM, "tok-one"), Target(PushKind.FCM, "tok-two")
    pusher.offer(note(target=one))
    await providers.fcm.wait_for(1)
    pusher.offer(note(target=two))
    await providers.fcm.wait_for(2)
    await settle(pusher)
    assert [n.target for n in providers.gone] == [one, two]
    assert pusher.counters.removed == 2 and pusher.counters.failed == {}


async def test_503_is_retried_after_retry_after(providers: Providers, start_pusher: Callable[..., Any]) -> None:
    pusher = await start_pusher()
    providers.fcm.answers.append(Answer(503, (("retry-after", "1"),)))
    pusher.offer(note())
    first, second = await providers.fcm.wait_for(2)
    assert second.at - first.at >= 1.0
    await settle(pusher)
    assert pusher.counters.sent == 1


async def test_our_credentials_refused(providers: Providers, start_pusher: Callable[..., Any], caplog: Any) -> None:
    pusher = await start_pusher(concurrency=1)
    providers.fcm.answers.extend([fcm_error(401, "THIRD_PARTY_AUTH_ERROR", "UNAUTHENTICATED"), fcm_error(400, "INVALID_ARGUMENT")])
    pusher.offer(note(channel=1))
    await providers.fcm.wait_for(1)
    pusher.offer(note(channel=2))
    await providers.fcm.wait_for(2)
    await settle(pusher)
    assert pusher.counters.failed == {Failure.CREDENTIALS: 1, Failure.REJECTED: 1}
    assert providers.gone == []
    assert providers.fcm.assertions == 2, "a 401 drops the cached token"
    assert any(r.levelname == "ERROR" and "FCM refused" in r.message for r in caplog.records)


async def test_an_assertion_the_token_endpoint_refuses_is_a_credential_failure(
    providers: Providers, start_pusher: Callable[..., Any], rsa_key: Any
) -> None:
    providers.fcm.account["client_email"] = "someone-else@chat-test.iam.gserviceaccount.com"
    pusher = await start_pusher()
    pusher.offer(note())
    await settle(pusher)
    assert pusher.counters.failed == {Failure.CREDENTIALS: 1}
    assert providers.fcm.received == []
