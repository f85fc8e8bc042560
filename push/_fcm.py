"""Firebase Cloud Messaging, HTTP v1: a service account's token, then `messages:send`.

The service account signs a JWT assertion (RS256) that its token URI
exchanges for an OAuth2 access token of about an hour; the token is cached
and fetched again five minutes before it expires, by one request however
many pushes are waiting for it. Messages are data-only: the app decides
what to show, and nothing but `{channel, seq, unread}` (and a preview
sealed to the device) passes through Google.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import trio

from ._api import Failure, Notification, PushKind, Urgency
from ._config import FcmConfig
from ._crypto import jws
from ._outcome import Outcome, transient
from ._payload import collapse_id, data_fields
from ._transport import exchange

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
#: The assertion's lifetime (Google's maximum).
ASSERTION_LIFETIME = 3600
#: A token is fetched again this long before it expires.
TOKEN_MARGIN = 300
_GONE = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})


def assertion(config: FcmConfig, wall_now: float) -> str:
    """The service account's signed JWT (RFC 7523) for the token endpoint."""
    now = int(wall_now)
    claims = {
        "iss": config.client_email,
        "scope": SCOPE,
        "aud": config.token_uri,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
    }
    return jws({"kid": config.key_id}, claims, config.key)


def message(notification: Notification, previews: bool) -> dict[str, Any]:
    """The `messages:send` body: data only, collapsed per channel."""
    return {
        "message": {
            "token": notification.target.endpoint,
            "data": data_fields(notification, previews),
            "android": {
                "collapse_key": collapse_id(notification),
                "priority": "HIGH" if notification.urgency is Urgency.HIGH else "NORMAL",
                "ttl": f"{notification.ttl}s",
            },
        }
    }


def _error(body: bytes) -> tuple[str, str]:
    """(status, FCM errorCode) of an error answer, empty where the body does not say."""
    try:
        error = json.loads(body)["error"]
        codes = [
            detail.get("errorCode", "")
            for detail in error.get("details", ())
            if isinstance(detail, dict) and detail.get("@type", "").endswith("FcmError")
        ]
        return str(error.get("status", "")), str(codes[0] if codes else "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", ""


def outcome(status: int, retry_after: str | None, body: bytes, wall_now: float) -> Outcome:
    """What an answer of `messages:send` means (FCM's ErrorCode reference)."""
    if status == 200:
        return Outcome.sent()
    error_status, code = _error(body)
    if code in _GONE:
        return Outcome.gone(f"HTTP {status} {code}")
    retry = transient(status, retry_after, wall_now)
    if retry is not None:
        return retry
    if status in (401, 403) or code == "THIRD_PARTY_AUTH_ERROR":
        return Outcome.failed(Failure.CREDENTIALS, f"HTTP {status} {code or error_status}")
    return Outcome.failed(Failure.REJECTED, f"HTTP {status} {code or error_status}")


def token_outcome(status: int, retry_after: str | None, wall_now: float) -> Outcome:
    """What a failed token request means: the service outage is retried, a refusal is ours."""
    retry = transient(status, retry_after, wall_now)
    if retry is not None:
        return retry
    return Outcome.failed(Failure.CREDENTIALS, f"the token endpoint answered HTTP {status}")


class FcmSender:
    name = "FCM"
    kinds = frozenset({PushKind.FCM})
    http1 = True

    def __init__(self, config: FcmConfig, base_url: str, previews: bool) -> None:
        self._config = config
        self._url = f"{base_url}/v1/projects/{config.project_id}/messages:send"
        self._previews = previews
        self._token = ""
        self._expires = -math.inf  # wall-clock time the cached token expires
        self._lock = trio.Lock()

    async def _access_token(self, client: httpx.AsyncClient) -> str | Outcome:
        """The cached access token, fetched again when it is about to expire; an Outcome if that failed."""
        async with self._lock:
            if time.time() < self._expires - TOKEN_MARGIN:
                return self._token
            form = urlencode(
                {
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": assertion(self._config, time.time()),
                }
            ).encode()
            headers = {"content-type": "application/x-www-form-urlencoded"}
            asked = time.time()
            status, answer_headers, body = await exchange(client, self._config.token_uri, headers, form)
            if status != 200:
                return token_outcome(status, answer_headers.get("retry-after"), time.time())
            try:
                answer = json.loads(body)
                token, lifetime = str(answer["access_token"]), float(answer["expires_in"])
            except (ValueError, KeyError, TypeError):
                return Outcome.failed(Failure.CREDENTIALS, "the token endpoint's answer has no access token")
            self._token, self._expires = token, asked + lifetime
            return token

    async def send(self, client: httpx.AsyncClient, notification: Notification) -> Outcome:
        token = await self._access_token(client)
        if isinstance(token, Outcome):
            return token
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        body = json.dumps(message(notification, self._previews), separators=(",", ":")).encode()
        status, answer_headers, answer = await exchange(client, self._url, headers, body)
        if status == 401:
            # Revoked or expired early: the next push fetches a new token.
            self._expires = -math.inf
        return outcome(status, answer_headers.get("retry-after"), answer, time.time())
