"""Web Push and UnifiedPush: RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID.

UnifiedPush distributors take the same requests as browsers' push services,
so one sender serves both kinds. Everything but the POST itself (`request`,
`outcome`, `VapidSigner`) is plain code.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from urllib.parse import urlsplit

import httpx

from ._api import Failure, Notification, PushKind, Urgency
from ._config import VapidConfig
from ._crypto import b64url, encrypt_webpush, jws, unb64url
from ._outcome import Outcome, transient
from ._payload import collapse_id, data_fields
from ._safety import TargetError
from ._transport import exchange

#: A VAPID token's lifetime (RFC 8292 2: at most 24 hours).
VAPID_LIFETIME = 12 * 3600
#: A cached token is replaced this long before it expires.
VAPID_MARGIN = 3600
#: Push services' origins whose token is cached (a handful in practice: FCM, Mozilla, Apple, distributors).
VAPID_CACHE = 1024


class VapidSigner:
    """RFC 8292 `Authorization: vapid t=..., k=...` headers, one token per push service origin, cached."""

    def __init__(self, config: VapidConfig) -> None:
        self._config = config
        self._k = b64url(config.public_key)
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def authorization(self, endpoint: str, wall_now: float) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        cached = self._tokens.get(audience)
        if cached is None or cached[1] - VAPID_MARGIN <= wall_now:
            expires = int(wall_now) + VAPID_LIFETIME
            claims = {"aud": audience, "exp": expires, "sub": self._config.subject}
            cached = (jws({}, claims, self._config.key), expires)
            self._tokens[audience] = cached
            if len(self._tokens) > VAPID_CACHE:
                self._tokens.popitem(last=False)
        self._tokens.move_to_end(audience)
        return f"vapid t={cached[0]}, k={self._k}"


def plaintext(notification: Notification, previews: bool) -> bytes:
    """The message a service worker reads: JSON, a preview in it as an object (it is all encrypted)."""
    message: dict[str, object] = dict(data_fields(notification, previews=False))
    preview = notification.preview
    if previews and preview is not None:
        message["preview"] = {"sender": str(preview.sender), "body": preview.body}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def outcome(status: int, retry_after: str | None, wall_now: float) -> Outcome:
    """What a push service's answer means (RFC 8030 5, 8.4)."""
    if 200 <= status <= 299:
        return Outcome.sent()
    if status in (404, 410):
        return Outcome.gone(f"HTTP {status}: the subscription expired or was removed")
    retry = transient(status, retry_after, wall_now)
    if retry is not None:
        return retry
    if status in (401, 403):
        return Outcome.failed(Failure.CREDENTIALS, f"HTTP {status}: the VAPID signature was refused")
    if status == 413:
        return Outcome.failed(Failure.TOO_LARGE, "HTTP 413")
    return Outcome.failed(Failure.REJECTED, f"HTTP {status}")


class WebPushSender:
    name = "Web Push"
    kinds = frozenset({PushKind.WEBPUSH, PushKind.UNIFIEDPUSH})
    http1 = True

    def __init__(self, config: VapidConfig, previews: bool) -> None:
        self._vapid = VapidSigner(config)
        self._previews = previews

    def request(self, notification: Notification, wall_now: float) -> tuple[dict[str, str], bytes]:
        """The headers and encrypted body of the push message for `notification`."""
        target = notification.target
        p256dh, auth = target.field("p256dh"), target.field("auth")
        if p256dh is None or auth is None:
            raise TargetError(f"a {target.kind} target without p256dh and auth")
        try:
            body = encrypt_webpush(plaintext(notification, self._previews), unb64url(p256dh), unb64url(auth))
        except ValueError as error:
            # A target stored before `check_target` refused such keys.
            raise TargetError(f"unusable subscription keys: {error}") from None
        headers = {
            "authorization": self._vapid.authorization(target.endpoint, wall_now),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(notification.ttl),
            "urgency": "high" if notification.urgency is Urgency.HIGH else "low",
            "topic": collapse_id(notification),
        }
        return headers, body

    async def send(self, client: httpx.AsyncClient, notification: Notification) -> Outcome:
        headers, body = self.request(notification, time.time())
        status, answer_headers, _ = await exchange(client, notification.target.endpoint, headers, body)
        return outcome(status, answer_headers.get("retry-after"), time.time())
