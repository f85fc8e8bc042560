"""Apple Push Notification service: HTTP/2 only, token-based authentication.

The provider token is a JWT signed ES256 with the team's .p8 key (`kid` the
key id, `iss` the team id, `iat` its time). Apple refuses one older than an
hour and throttles one renewed more often than every twenty minutes, so it
is renewed at forty minutes, and an ExpiredProviderToken renews it early
only once twenty minutes have passed.

A message notification is an alert whose text is the app's own localised
string (`loc-key`), so no text passes through Apple; the app's Notification
Service Extension (`mutable-content`) may replace it with the sealed
preview. A badge update is the badge alone, at priority 5.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx

from ._api import Failure, Notification, PushKind, Target, Urgency
from ._config import ApnsConfig
from ._crypto import jws
from ._outcome import Outcome, transient
from ._payload import collapse_id, data_fields
from ._transport import exchange

#: A provider token is renewed when it is this old (seconds; Apple's limit is an hour).
TOKEN_RENEW = 40 * 60
#: Apple throttles renewals more frequent than this.
TOKEN_MIN_AGE = 20 * 60
#: The alert's localisation key: the app's Localizable.strings gives the text ("New message").
ALERT_KEY = "CHAT_NEW_MESSAGE"
_GONE = frozenset({"BadDeviceToken", "Unregistered"})
#: The detail of APNs' answer that our provider token is too old.
EXPIRED = "HTTP 403 ExpiredProviderToken"


class ProviderToken:
    """The APNs provider token, renewed within the hour and not more often than Apple allows."""

    def __init__(self, config: ApnsConfig) -> None:
        self._config = config
        self._token = ""
        self._issued = -math.inf

    def current(self, wall_now: float) -> str:
        if wall_now - self._issued >= TOKEN_RENEW:
            self._issued = float(int(wall_now))
            claims = {"iss": self._config.team_id, "iat": int(wall_now)}
            self._token = jws({"kid": self._config.key_id}, claims, self._config.key)
        return self._token

    def expired(self, wall_now: float) -> bool:
        """APNs said the token expired: renew it at the next push if Apple allows (False: too young)."""
        if wall_now - self._issued < TOKEN_MIN_AGE:
            return False
        self._issued = -math.inf
        return True


def payload(notification: Notification, previews: bool) -> dict[str, Any]:
    aps: dict[str, Any] = {"badge": notification.unread}
    if notification.urgency is Urgency.HIGH:
        aps.update(
            {
                "alert": {"loc-key": ALERT_KEY},
                "sound": "default",
                "mutable-content": 1,
                "thread-id": collapse_id(notification),
            }
        )
    return {"aps": aps, **data_fields(notification, previews)}


def headers(notification: Notification, topic: str, token: str, wall_now: float) -> dict[str, str]:
    target = notification.target
    return {
        "authorization": f"bearer {token}",
        "apns-push-type": "alert",
        "apns-priority": "10" if notification.urgency is Urgency.HIGH else "5",
        "apns-topic": target.field("topic") or topic,
        "apns-collapse-id": collapse_id(notification),
        "apns-expiration": str(int(wall_now) + notification.ttl) if notification.ttl else "0",
        "content-type": "application/json",
    }


def outcome(status: int, retry_after: str | None, body: bytes, target: Target, wall_now: float) -> Outcome:
    """What an APNs answer means (Apple's "Handling notification responses from APNs")."""
    if status == 200:
        return Outcome.sent()
    try:
        answer = json.loads(body)
        reason, timestamp = str(answer.get("reason", "")), answer.get("timestamp")
    except (ValueError, AttributeError):
        reason, timestamp = "", None
    if reason in _GONE or status == 410:
        # A 410 says when the token stopped being valid: a target registered since then is a newer one.
        if status == 410 and isinstance(timestamp, int) and timestamp < target.registered:
            return Outcome.failed(Failure.STALE, f"unregistered at {timestamp}, before this target")
        return Outcome.gone(f"HTTP {status} {reason}")
    retry = transient(status, retry_after, wall_now)
    if retry is not None:
        return retry
    if status == 403:
        return Outcome.failed(Failure.CREDENTIALS, f"HTTP 403 {reason}")
    if status == 413:
        return Outcome.failed(Failure.TOO_LARGE, f"HTTP 413 {reason}")
    return Outcome.failed(Failure.REJECTED, f"HTTP {status} {reason}")


class ApnsSender:
    name = "APNs"
    kinds = frozenset({PushKind.APNS})
    http1 = False

    def __init__(self, config: ApnsConfig, url: str, sandbox_url: str, previews: bool) -> None:
        self._config = config
        self._urls = (url, sandbox_url)
        self._previews = previews
        self._token = ProviderToken(config)

    async def send(self, client: httpx.AsyncClient, notification: Notification) -> Outcome:
        target = notification.target
        base = self._urls[target.field("sandbox") == "true"]
        now = time.time()
        body = json.dumps(payload(notification, self._previews), ensure_ascii=False, separators=(",", ":"))
        request_headers = headers(notification, self._config.topic, self._token.current(now), now)
        status, answer_headers, answer = await exchange(
            client, f"{base}/3/device/{target.endpoint}", request_headers, body.encode()
        )
        result = outcome(status, answer_headers.get("retry-after"), answer, target, time.time())
        if result.detail == EXPIRED and self._token.expired(time.time()):
            return Outcome.retry(f"{EXPIRED}: renewed")
        return result
