"""`chatnode serve` with push flags: a real process pushing to a local Web Push service, and its refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from client import BadRequest, Connection, PushTarget
from push import VapidConfig

from ..node.people import PASSWORD
from ..push.conftest import certificates  # noqa: F401 (fixture)
from ..push.servers import PATIENCE, Certificates, WebPushProvider, serving as serving_provider
from .chatnode import LISTENING, run, serving


def vapid_pem(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


async def test_serve_with_a_vapid_key_pushes_to_a_device_that_is_not_connected(
    tmp_path: Path, certificates: Certificates  # noqa: F811
) -> None:
    pem = vapid_pem(tmp_path / "vapid.pem")
    ca = tmp_path / "ca.pem"
    certificates.ca.cert_pem.write_to_path(str(ca))
    provider = WebPushProvider(application_server_key=VapidConfig.from_pem(pem.read_bytes(), "mailto:x@y.example").public_key)
    flags = [
        "--port", "0", "--store", str(tmp_path / "chat.db"),
        "--vapid-private-key", str(pem), "--vapid-subject", "mailto:ops@chat.example",
        "--push-allow-host", "127.0.0.1", "--push-ca", str(ca),
    ]  # fmt: skip
    async with serving_provider(provider, certificates) as provider.base_url, serving(flags, cwd=tmp_path) as node:
        assert LISTENING.fullmatch(node.stdout.lines[0])
        # What a web client subscribes with: the key the pushes are signed by.
        key_url = node.url.replace("ws://", "http://").replace("/v1", "/push/vapid-public-key")
        async with httpx.AsyncClient() as http:
            answer = await http.get(key_url)
        assert answer.status_code == 200
        assert base64.urlsafe_b64decode(answer.text.strip() + "==") == provider.application_server_key
        subscriber = provider.subscribe()
        async with Connection.open(node.url) as conn:
            bob = await conn.register("bob", PASSWORD)
            phone = await conn.login("bob", PASSWORD, "phone")
        async with Connection.open(node.url) as conn:
            await conn.auth(phone.token)
            await conn.push(PushTarget.webpush(subscriber.endpoint, subscriber.fields["p256dh"], subscriber.fields["auth"]))
            with pytest.raises(BadRequest, match="apns push is not configured on this node"):
                await conn.push(PushTarget.apns("ab" * 32))
        async with Connection.open(node.url) as conn:
            await conn.register("alice", PASSWORD)
            alice = await conn.login("alice", PASSWORD, "laptop")
            await conn.auth(alice.token)
            channel = await conn.direct(bob)
            sent = await conn.send(channel, "hello")
            [push] = await provider.wait_for(1)
        assert push.message == {"channel": str(channel), "seq": str(sent.seq), "unread": "1"}


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--vapid-subject", "mailto:ops@chat.example"], "--vapid-private-key, --vapid-subject go together"),
        (["--vapid-private-key", "missing.pem", "--vapid-subject", "mailto:ops@chat.example"], "missing.pem"),
        (["--vapid-private-key", "vapid.pem", "--vapid-subject", "ops@chat.example"], "mailto: or https:"),
        (["--fcm-service-account", "vapid.pem"], "--fcm-service-account: not JSON"),
        (["--apns-key", "vapid.pem", "--apns-key-id", "KEYID12345"], "--apns-key, --apns-key-id, --apns-team-id, --apns-topic go together"),
        (["--push-ack-timeout", "0"], "positive number of seconds"),
    ],
)  # fmt: skip
async def test_serve_with_unusable_push_flags_is_a_one_line_error(flags: list[str], says: str, tmp_path: Path) -> None:
    vapid_pem(tmp_path / "vapid.pem")
    with trio.fail_after(PATIENCE):
        done = await run("serve", "--port", "0", "--store", str(tmp_path / "chat.db"), *flags, cwd=tmp_path)
    assert done.status == 2, done
    (line,) = done.stderr.splitlines()[-1:]
    assert says in line and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "chat.db").exists(), "refused before the store was opened"
