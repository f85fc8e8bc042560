"""What each provider's answers mean, and when tokens are made anew: plain code, no event loop."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from protocol import PushKind
from push import ApnsConfig, Failure, FcmConfig, Notification, PushConfig, Pusher, Target, TargetError, VapidConfig
from push._apns import ProviderToken
from push._crypto import b64url
from push._apns import outcome as apns_outcome
from push._fcm import outcome as fcm_outcome
from push._outcome import Verdict
from push._webpush import VapidSigner
from push._webpush import outcome as webpush_outcome

from .servers import apns_error, fcm_error

APNS = Target(PushKind.APNS, "ab" * 32, registered=1_000)


def _pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.mark.parametrize(
    ("status", "verdict", "failure"),
    [
        (201, Verdict.SENT, None), (202, Verdict.SENT, None), (404, Verdict.GONE, None), (410, Verdict.GONE, None),
        (429, Verdict.RETRY, None), (500, Verdict.RETRY, None), (503, Verdict.RETRY, None),
        (401, Verdict.FAILED, Failure.CREDENTIALS), (403, Verdict.FAILED, Failure.CREDENTIALS),
        (413, Verdict.FAILED, Failure.TOO_LARGE), (400, Verdict.FAILED, Failure.REJECTED),
        (301, Verdict.FAILED, Failure.REJECTED),
    ],
)  # fmt: skip
def test_web_push_answers(status: int, verdict: Verdict, failure: Failure | None) -> None:
    result = webpush_outcome(status, None, 0)
    assert (result.verdict, result.failure) == (verdict, failure)


def test_retry_after_travels_with_the_retry() -> None:
    assert webpush_outcome(429, "30", 0).retry_after == 30.0
    assert webpush_outcome(503, "Wed, 21 Oct 2015 07:28:00 GMT", 1445412470).retry_after == 10.0
    assert webpush_outcome(500, None, 0).retry_after is None


@pytest.mark.parametrize(
    ("status", "code", "verdict", "failure"),
    [
        (404, "UNREGISTERED", Verdict.GONE, None),
        (403, "SENDER_ID_MISMATCH", Verdict.GONE, None),
        (429, "QUOTA_EXCEEDED", Verdict.RETRY, None),
        (503, "UNAVAILABLE", Verdict.RETRY, None),
        (500, "INTERNAL", Verdict.RETRY, None),
        (401, "THIRD_PARTY_AUTH_ERROR", Verdict.FAILED, Failure.CREDENTIALS),
        (403, "PERMISSION_DENIED", Verdict.FAILED, Failure.CREDENTIALS),
        (400, "INVALID_ARGUMENT", Verdict.FAILED, Failure.REJECTED),
    ],
)
def test_fcm_answers(status: int, code: str, verdict: Verdict, failure: Failure | None) -> None:
    answer = fcm_error(status, code)
    result = fcm_outcome(answer.status, None, answer.body, 0)
    assert (result.verdict, result.failure) == (verdict, failure)
    assert fcm_outcome(200, None, b'{"name": "projects/p/messages/1"}', 0).verdict is Verdict.SENT
    assert fcm_outcome(502, None, b"<html>bad gateway</html>", 0).verdict is Verdict.RETRY


@pytest.mark.parametrize(
    ("status", "reason", "timestamp", "verdict", "failure"),
    [
        (410, "Unregistered", 1_000, Verdict.GONE, None),
        (410, "Unregistered", 999, Verdict.FAILED, Failure.STALE),
        (410, "ExpiredToken", None, Verdict.GONE, None),
        (400, "BadDeviceToken", None, Verdict.GONE, None),
        (400, "DeviceTokenNotForTopic", None, Verdict.FAILED, Failure.REJECTED),
        (403, "InvalidProviderToken", None, Verdict.FAILED, Failure.CREDENTIALS),
        (413, "PayloadTooLarge", None, Verdict.FAILED, Failure.TOO_LARGE),
        (429, "TooManyRequests", None, Verdict.RETRY, None),
        (503, "ServiceUnavailable", None, Verdict.RETRY, None),
    ],
)
def test_apns_answers(status: int, reason: str, timestamp: int | None, verdict: Verdict, failure: Failure | None) -> None:
    answer = apns_error(status, reason, timestamp)
    result = apns_outcome(answer.status, None, answer.body, APNS, 0)
    assert (result.verdict, result.failure) == (verdict, failure)


def test_the_apns_provider_token_is_renewed_within_the_hour_and_not_sooner_than_apple_allows() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    config = ApnsConfig(key, "KEYID12345", "TEAM123456", "com.example.chat")
    tokens = ProviderToken(config)
    first = tokens.current(10_000.0)
    assert jwt.get_unverified_header(first)["kid"] == "KEYID12345"
    assert jwt.decode(first, key.public_key(), algorithms=["ES256"]) == {"iss": "TEAM123456", "iat": 10_000}
    assert tokens.current(10_000.0 + 39 * 60) == first
    assert tokens.current(10_000.0 + 40 * 60) != first, "renewed at forty minutes, inside Apple's hour"
    second = tokens.current(12_400.0)
    assert not tokens.expired(12_400.0 + 19 * 60), "an expiry claimed within twenty minutes renews nothing"
    assert tokens.current(12_400.0 + 19 * 60) == second
    assert tokens.expired(12_400.0 + 20 * 60)
    assert tokens.current(12_400.0 + 20 * 60) != second


def test_vapid_tokens_are_per_origin_cached_and_renewed_before_expiry() -> None:
    config = VapidConfig.from_pem(_pem(), "mailto:ops@chat.example")
    signer = VapidSigner(config)
    now = float(int(time.time()))

    def claims(header: str, audience: str) -> dict[str, object]:
        token = header.removeprefix("vapid t=").split(",")[0]
        return dict(jwt.decode(token, config.key.public_key(), algorithms=["ES256"], audience=audience))

    header = signer.authorization("https://push.example.net:8443/w/abc?x=1", now)
    assert claims(header, "https://push.example.net:8443") == {
        "aud": "https://push.example.net:8443", "exp": int(now) + 12 * 3600, "sub": "mailto:ops@chat.example",
    }  # fmt: skip
    assert header.endswith(", k=" + b64url(config.public_key))
    assert signer.authorization("https://push.example.net:8443/w/other", now + 10 * 3600) == header
    assert signer.authorization("https://push.example.net:8443/w/abc", now + 11 * 3600) != header
    assert claims(signer.authorization("https://fcm.example.com/x", now), "https://fcm.example.com")["aud"] == (
        "https://fcm.example.com"
    )


def test_credentials_are_checked_when_configured() -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        VapidConfig.from_pem(rsa_pem, "mailto:a@b")
    with pytest.raises(ValueError, match="not an unencrypted PEM"):
        VapidConfig.from_pem(b"not a key", "mailto:a@b")
    with pytest.raises(ValueError, match="mailto"):
        VapidConfig.from_pem(_pem(), "ops@chat.example")
    with pytest.raises(ValueError, match="--apns-key-id"):
        ApnsConfig.from_p8(_pem(), "short", "TEAM123456", "com.example.chat")
    with pytest.raises(ValueError, match="service-account"):
        FcmConfig.from_json(json.dumps({"type": "authorized_user"}))
    with pytest.raises(ValueError, match="missing private_key"):
        FcmConfig.from_json(json.dumps({"type": "service_account", "project_id": "p", "client_email": "e",
                                        "private_key_id": "k", "token_uri": "https://t"}))  # fmt: skip


async def _gone(notification: Notification) -> None:
    raise AssertionError("not called")


def test_an_unconfigured_kind_is_refused_at_registration() -> None:
    pusher = Pusher(PushConfig(vapid=VapidConfig.from_pem(_pem(), "mailto:ops@chat.example")), _gone)
    assert pusher.configured_kinds == {PushKind.WEBPUSH, PushKind.UNIFIEDPUSH}
    with pytest.raises(TargetError, match="fcm push is not configured on this node"):
        pusher.check(Target(PushKind.FCM, "token"))
    with pytest.raises(TargetError, match="https"):
        pusher.check(Target(PushKind.WEBPUSH, "http://push.example.com/x", {"p256dh": "x", "auth": "y"}.items()))
