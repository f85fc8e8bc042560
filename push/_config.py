"""What the operator configures: one credential per provider, and the pusher's bounds.

Each credential is parsed when it is built (`from_pem`, `from_json`,
`from_p8`), so a wrong file stops `chatnode serve` at start with a message
that names the problem, not at the first push an hour later.
"""

from __future__ import annotations

import json
import re
import ssl
from urllib.parse import urlsplit

from attrs import Attribute, field, frozen
from attrs.validators import ge, instance_of, optional
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ._api import PushKind

_APNS_ID = re.compile(r"[A-Z0-9]{10}", re.ASCII)
_BUNDLE = re.compile(r"[A-Za-z0-9.\-_]{1,255}", re.ASCII)


def _p256_key(pem: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{what}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{what}: the key must be an EC key on P-256 (prime256v1)")
    return key


def _https_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{what}: {url!r} is not an https URL")
    return url.rstrip("/")


@frozen
class VapidConfig:
    """The application server's identity for Web Push and UnifiedPush (RFC 8292).

    `subject` is how a push service reaches the operator: a `mailto:` or
    `https:` URL. The public half of `key` is what web clients pass to
    `pushManager.subscribe` as `applicationServerKey` (`public_key`).
    """

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    subject: str = field()

    @subject.validator
    def _contact(self, _attribute: object, subject: str) -> None:
        if not (subject.startswith("mailto:") or subject.startswith("https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")

    @classmethod
    def from_pem(cls, pem: bytes, subject: str) -> VapidConfig:
        return cls(_p256_key(pem, "--vapid-private-key"), subject)

    @property
    def public_key(self) -> bytes:
        """The uncompressed P-256 point (65 bytes): base64url it for `applicationServerKey`."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )


@frozen
class FcmConfig:
    """A Google service account allowed to send for one Firebase project (FCM HTTP v1)."""

    project_id: str
    client_email: str
    key_id: str
    key: rsa.RSAPrivateKey = field(repr=False)
    token_uri: str

    @classmethod
    def from_json(cls, text: bytes | str) -> FcmConfig:
        """Read the service-account key file the Firebase console hands out."""
        what = "--fcm-service-account"
        try:
            account = json.loads(text)
        except ValueError as error:
            raise ValueError(f"{what}: not JSON ({error})") from None
        if not isinstance(account, dict) or account.get("type") != "service_account":
            raise ValueError(f'{what}: not a service-account key file (no "type": "service_account")')
        missing = [
            name
            for name in ("project_id", "client_email", "private_key_id", "private_key", "token_uri")
            if not isinstance(account.get(name), str) or not account[name]
        ]
        if missing:
            raise ValueError(f"{what}: missing {', '.join(missing)}")
        try:
            key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
        except ValueError as error:
            raise ValueError(f"{what}: private_key is not a PEM private key ({error})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{what}: private_key must be an RSA key")
        return cls(
            project_id=account["project_id"],
            client_email=account["client_email"],
            key_id=account["private_key_id"],
            key=key,
            token_uri=_https_url(account["token_uri"], f"{what} token_uri"),
        )


@frozen
class ApnsConfig:
    """An APNs token-auth key (.p8) of one Apple developer team, and the app's bundle id."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    key_id: str = field()
    team_id: str = field()
    topic: str = field()

    @key_id.validator
    @team_id.validator
    def _apple_id(self, attribute: Attribute[str], value: str) -> None:
        if _APNS_ID.fullmatch(value) is None:
            raise ValueError(f"--apns-{attribute.name.replace('_', '-')}: ten letters or digits")

    @topic.validator
    def _bundle(self, _attribute: object, topic: str) -> None:
        if _BUNDLE.fullmatch(topic) is None:
            raise ValueError("--apns-topic: the app's bundle id (letters, digits, '.', '-', '_')")

    @classmethod
    def from_p8(cls, p8: bytes, key_id: str, team_id: str, topic: str) -> ApnsConfig:
        return cls(_p256_key(p8, "--apns-key"), key_id, team_id, topic)


@frozen
class PushConfig:
    """Everything the `Pusher` is built from.

    A provider whose credential is None is not configured: its targets are
    refused at `push`. The URLs are the providers' own; tests point them at
    local servers (and list those hosts in `allowed_hosts`, which also
    exempts them from the public-address rule, see `check_target`). `tls` is
    the trust store for every provider connection (None: the system's).
    `queue_size` bounds each provider's waiting pushes (pending and
    retrying), `concurrency` its requests in flight; a push gets at most
    `tries` requests within `deadline` seconds of its offer, each request at
    most `timeout` seconds.
    """

    vapid: VapidConfig | None = None
    fcm: FcmConfig | None = None
    apns: ApnsConfig | None = None
    previews: bool = False
    allowed_hosts: frozenset[str] = field(default=frozenset(), converter=frozenset)
    fcm_url: str = field(default="https://fcm.googleapis.com", converter=lambda u: _https_url(u, "fcm_url"))
    apns_url: str = field(default="https://api.push.apple.com", converter=lambda u: _https_url(u, "apns_url"))
    apns_sandbox_url: str = field(
        default="https://api.sandbox.push.apple.com", converter=lambda u: _https_url(u, "apns_sandbox_url")
    )
    tls: ssl.SSLContext | None = field(default=None, validator=optional(instance_of(ssl.SSLContext)))
    queue_size: int = field(default=10_000, validator=ge(1))
    concurrency: int = field(default=32, validator=ge(1))
    tries: int = field(default=4, validator=ge(1))
    deadline: float = field(default=300.0, validator=ge(0.0))
    timeout: float = field(default=10.0, validator=ge(0.0))

    @property
    def kinds(self) -> frozenset[PushKind]:
        """The kinds whose provider has a credential."""
        kinds: set[PushKind] = set()
        if self.vapid is not None:
            kinds |= {PushKind.WEBPUSH, PushKind.UNIFIEDPUSH}
        if self.fcm is not None:
            kinds.add(PushKind.FCM)
        if self.apns is not None:
            kinds.add(PushKind.APNS)
        return frozenset(kinds)
