"""The local providers, started per test, and a pusher pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from attrs import define, field
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from push import ApnsConfig, FcmConfig, Notification, PushConfig, Pusher, VapidConfig

from .servers import ApnsProvider, Certificates, FcmProvider, WebPushProvider, service_account, serving

LOCAL = frozenset({"127.0.0.1"})


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(Path(tmp_path_factory.mktemp("push-tls")))


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@define
class Providers:
    """The three local providers, and the credentials a node would be configured with for them."""

    webpush: WebPushProvider
    fcm: FcmProvider
    apns: ApnsProvider
    vapid: VapidConfig
    fcm_config: FcmConfig
    apns_config: ApnsConfig
    tls: Any
    gone: list[Notification] = field(factory=list)

    async def on_gone(self, notification: Notification) -> None:
        self.gone.append(notification)

    def config(self, **overrides: Any) -> PushConfig:
        settings: dict[str, Any] = {
            "vapid": self.vapid,
            "fcm": self.fcm_config,
            "apns": self.apns_config,
            "fcm_url": self.fcm.base_url,
            "apns_url": self.apns.base_url,
            # The same local APNs by its other name: the host header tells sandbox from production.
            "apns_sandbox_url": self.apns.base_url.replace("127.0.0.1", "localhost"),
            "allowed_hosts": LOCAL | {"localhost"},
            "tls": self.tls,
            **overrides,
        }
        return PushConfig(**settings)


@pytest.fixture
async def providers(certificates: Certificates, rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[Providers]:
    vapid_key, apns_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    vapid = VapidConfig.from_pem(_pem(vapid_key), "mailto:ops@chat.example")
    webpush = WebPushProvider(application_server_key=vapid.public_key)
    fcm = FcmProvider(public_key=rsa_key.public_key())
    apns = ApnsProvider(public_key=apns_key.public_key(), key_id="KEYID12345", team_id="TEAM123456")
    async with (
        serving(webpush, certificates) as webpush.base_url,
        serving(fcm, certificates) as fcm.base_url,
        serving(apns, certificates, h2_only=True) as apns.base_url,
    ):
        account = service_account(rsa_key, f"{fcm.base_url}/token")
        fcm_config = FcmConfig.from_json(account)
        fcm.account = {"project_id": fcm_config.project_id, "client_email": fcm_config.client_email,
                       "private_key_id": fcm_config.key_id, "token_uri": fcm_config.token_uri}  # fmt: skip
        apns_config = ApnsConfig.from_p8(_pem(apns_key), "KEYID12345", "TEAM123456", "com.example.chat")
        yield Providers(webpush, fcm, apns, vapid, fcm_config, apns_config, certificates.client_context())


@pytest.fixture
def start_pusher(nursery: trio.Nursery, providers: Providers) -> Callable[..., Any]:
    """Start a pusher on the local providers (config overrides as keywords); returns it once running."""

    async def start(on_gone: Callable[[Notification], Awaitable[None]] | None = None, **overrides: Any) -> Pusher:
        pusher = Pusher(providers.config(**overrides), on_gone or providers.on_gone, uniform=lambda: 0.0)
        await nursery.start(pusher.run)
        return pusher

    return start
