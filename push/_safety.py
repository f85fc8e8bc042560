"""Which targets we accept, and which addresses we are willing to call.

A Web Push endpoint is a URL a client chose: left unchecked, the node would
POST to whatever it names, its own admin port or the cloud's metadata
service included. So an endpoint must be https on a public host, and the
address the connection goes to must be public too (checked when connecting,
on the address actually dialled, so DNS that answers differently the
second time gains nothing; see `_transport`). Hosts the operator lists in
`allowed_hosts` are exempt: the tests' local providers.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from ._api import PushKind, Target

#: The longest endpoint URL accepted (push services' are about 200 characters).
MAX_ENDPOINT = 1024
#: The longest FCM registration token accepted (they are about 160 characters).
MAX_FCM_TOKEN = 512

_HOST = re.compile(r"[a-z0-9.-]{1,253}", re.ASCII)
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_:\-]+", re.ASCII)
_APNS_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}", re.ASCII)
_APNS_TOPIC = re.compile(r"[A-Za-z0-9.\-_]{1,255}", re.ASCII)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}", re.ASCII)

#: Top-level names that only a local resolver answers.
_PRIVATE_TLDS = frozenset({"localhost", "local", "internal", "localdomain", "home", "lan"})
#: NAT64's well-known prefix: the last 32 bits are an IPv4 address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetError(ValueError):
    """A target the pusher will not use; the message says why (for `bad_request`'s `msg`)."""


def public_address(address: str) -> bool:
    """Whether `address` (an IP literal) is a public unicast address we may call.

    Refused: loopback, private (RFC 1918, fc00::/7), link-local (which holds
    169.254.169.254, the metadata service), shared CGNAT space, multicast,
    reserved, unspecified; an IPv6 address that embeds an IPv4 one (mapped,
    6to4, NAT64) is judged by the IPv4 address it carries.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return public_address(str(embedded))
        if ip.is_site_local:
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def check_url(url: str, allowed_hosts: frozenset[str]) -> None:
    """Refuse an endpoint URL that is not https on a host we may call."""
    if len(url) > MAX_ENDPOINT:
        raise TargetError(f"endpoint longer than {MAX_ENDPOINT} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise TargetError("endpoint is not a URL") from None
    if parts.scheme != "https":
        raise TargetError("endpoint must be an https URL")
    if not host or parts.username is not None or parts.password is not None:
        raise TargetError("endpoint must name a host, and no user")
    if host in allowed_hosts:
        return
    literal = _literal(host)
    if literal is not None:
        if not public_address(literal):
            raise TargetError("endpoint's address is not public")
        return
    if _HOST.fullmatch(host) is None or "." not in host.strip("."):
        raise TargetError("endpoint's host is not a public DNS name")
    if host.rstrip(".").rsplit(".", 1)[-1] in _PRIVATE_TLDS:
        raise TargetError("endpoint's host is not a public DNS name")


def decode_base64url(text: str, what: str) -> bytes:
    """Bytes of a base64url field (padding optional, as browsers send it without)."""
    if _BASE64URL.fullmatch(text) is None:
        raise TargetError(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise TargetError(f"{what} is not base64url") from None


def _check_webpush(target: Target, allowed_hosts: frozenset[str]) -> None:
    check_url(target.endpoint, allowed_hosts)
    p256dh, auth = target.field("p256dh"), target.field("auth")
    if p256dh is None or auth is None:
        raise TargetError(f"{target.kind} needs p256dh and auth")
    point = decode_base64url(p256dh, "p256dh")
    if len(point) != 65 or point[0] != 4:
        raise TargetError("p256dh must be an uncompressed P-256 point (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise TargetError("p256dh is not a point on P-256") from None
    if len(decode_base64url(auth, "auth")) != 16:
        raise TargetError("auth must be 16 bytes")


def _check_fcm(target: Target) -> None:
    if not 0 < len(target.endpoint) <= MAX_FCM_TOKEN or _FCM_TOKEN.fullmatch(target.endpoint) is None:
        raise TargetError(f"an fcm endpoint is a registration token (at most {MAX_FCM_TOKEN} characters)")


def _check_apns(target: Target) -> None:
    if _APNS_TOKEN.fullmatch(target.endpoint) is None:
        raise TargetError("an apns endpoint is the device token in hex (64 to 200 digits)")
    topic = target.field("topic")
    if topic is not None and _APNS_TOPIC.fullmatch(topic) is None:
        raise TargetError("apns topic must be a bundle id")
    if target.field("sandbox") not in (None, "true", "false"):
        raise TargetError('apns sandbox must be "true" or "false"')


def check_target(target: Target, allowed_hosts: frozenset[str] = frozenset()) -> None:
    """Refuse a target whose fields the provider could not use, or that points somewhere we must not call.

    Raises `TargetError`. The node calls it (through `Pusher.check`) when a
    device registers with `push`, so a bad target is a `bad_request` then,
    not a failure later; the address of a host name is checked again on
    every connection.
    """
    if target.kind in (PushKind.WEBPUSH, PushKind.UNIFIEDPUSH):
        _check_webpush(target, allowed_hosts)
    elif target.kind is PushKind.FCM:
        _check_fcm(target)
    else:
        _check_apns(target)
    if target.preview_key is not None and len(target.preview_key) != 16:
        raise TargetError("a preview key is 16 bytes")
