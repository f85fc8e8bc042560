"""End to end with an independent receiver: the npm `web-push-testing` emulator checks VAPID and decrypts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol import PushKind
from push import Failure, Notification, Preview, Target
from push._crypto import b64url

from .conftest import Providers
from .receiver import web_push_testing
from .servers import Certificates
from .test_webpush import settle


async def test_the_emulator_accepts_and_decrypts_our_push(
    providers: Providers, start_pusher: Callable[..., Any], certificates: Certificates
) -> None:
    pusher = await start_pusher(previews=True)
    async with web_push_testing(certificates) as emulator:
        subscription = await emulator.subscribe(b64url(providers.vapid.public_key))
        target = Target(PushKind.WEBPUSH, subscription["endpoint"], subscription["keys"].items(), registered=1)
        pusher.check(target)
        pusher.offer(Notification("k", target, channel=12, seq=345, unread=6, preview=Preview(9, "héllo")))
        await settle(pusher)
        assert pusher.counters.sent == 1
        [message] = await emulator.messages(subscription["clientHash"])
        assert json.loads(message) == {
            "channel": "12", "seq": "345", "unread": "6", "preview": {"sender": "9", "body": "héllo"},
        }  # fmt: skip


async def test_the_emulator_refuses_a_push_signed_by_another_server(
    providers: Providers, start_pusher: Callable[..., Any], certificates: Certificates
) -> None:
    pusher = await start_pusher()
    async with web_push_testing(certificates) as emulator:
        # The subscription belongs to another application server's key: our VAPID token is not its.
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        subscription = await emulator.subscribe(b64url(other.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)))
        target = Target(PushKind.WEBPUSH, subscription["endpoint"], subscription["keys"].items())
        pusher.offer(Notification("k", target, channel=1, seq=1, unread=1))
        await settle(pusher)
        assert pusher.counters.sent == 0 and pusher.counters.failed == {Failure.REJECTED: 1}
        assert await emulator.messages(subscription["clientHash"]) == []
