"""Which targets the pusher accepts and which addresses it calls (no event loop, no network)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol import PushKind
from push import Target, TargetError, check_target, public_address
from push._crypto import b64url

from .keys import private_point

P256DH = b64url(private_point(ec.generate_private_key(ec.SECP256R1())))
AUTH = b64url(bytes(range(16)))


def webpush(endpoint: str, **fields: str) -> Target:
    return Target(PushKind.WEBPUSH, endpoint, {"p256dh": P256DH, "auth": AUTH, **fields}.items())


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "fec0::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1", "64:ff9b::a9fe:a9fe",
    ],
)  # fmt: skip
def test_addresses_we_do_not_call(address: str) -> None:
    assert not public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "142.250.185.10", "2a00:1450:4001:82a::200a", "::ffff:8.8.8.8"])
def test_public_addresses(address: str) -> None:
    assert public_address(address)


def test_a_good_subscription_passes() -> None:
    check_target(webpush("https://fcm.googleapis.com/fcm/send/abc:def"))
    check_target(Target(PushKind.UNIFIEDPUSH, "https://ntfy.sh/upABC?up=1", webpush("https://x.y").fields))


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("http://push.example.com/x", "https"),
        ("https://127.0.0.1/x", "not public"),
        ("https://[::1]/x", "not public"),
        ("https://169.254.169.254/latest/meta-data", "not public"),
        ("https://localhost/x", "public DNS name"),
        ("https://printer.local/x", "public DNS name"),
        ("https://intranet/x", "public DNS name"),
        ("https://user:pw@push.example.com/x", "no user"),
        ("https://push.example.com:99999/x", "not a URL"),
        ("https://push.example.com/" + "a" * 1100, "longer than"),
    ],
)
def test_endpoints_we_refuse(endpoint: str, why: str) -> None:
    with pytest.raises(TargetError, match=why):
        check_target(webpush(endpoint))


def test_the_operators_allowed_hosts_are_exempt_from_the_public_rule_not_from_https() -> None:
    check_target(webpush("https://127.0.0.1:8443/x"), frozenset({"127.0.0.1"}))
    check_target(webpush("https://localhost:8443/x"), frozenset({"localhost"}))
    with pytest.raises(TargetError, match="https"):
        check_target(webpush("http://localhost:8443/x"), frozenset({"localhost"}))


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"p256dh": P256DH}, "needs p256dh and auth"),
        ({"p256dh": P256DH[:-3], "auth": AUTH}, "65 bytes"),
        ({"p256dh": "B" + "A" * 86, "auth": AUTH}, "not a point"),
        ({"p256dh": P256DH, "auth": AUTH[:-4]}, "16 bytes"),
        ({"p256dh": "not base64!", "auth": AUTH}, "base64url"),
    ],
)
def test_subscription_keys_we_refuse(fields: dict[str, str], why: str) -> None:
    with pytest.raises(TargetError, match=why):
        check_target(Target(PushKind.WEBPUSH, "https://push.example.com/x", fields.items()))


def test_fcm_and_apns_fields() -> None:
    check_target(Target(PushKind.FCM, "dGVzdA:APA91b-Fh_x"))
    check_target(Target(PushKind.APNS, "ab" * 32, {"topic": "com.example.chat", "sandbox": "true"}.items()))
    for bad, why in [
        (Target(PushKind.FCM, ""), "registration token"),
        (Target(PushKind.FCM, "x" * 600), "registration token"),
        (Target(PushKind.FCM, "has space"), "registration token"),
        (Target(PushKind.APNS, "xyz"), "hex"),
        (Target(PushKind.APNS, "ab" * 32, {"sandbox": "yes"}.items()), "sandbox"),
        (Target(PushKind.APNS, "ab" * 32, {"topic": "a/b"}.items()), "bundle id"),
        (Target(PushKind.FCM, "tok", preview_key=b"short"), "16 bytes"),
    ]:
        with pytest.raises(TargetError, match=why):
            check_target(bad)
