"""Local push providers for the tests: real TLS (trustme), real HTTP/2 (hypercorn), real checks.

Each behaves as its provider does towards the pusher: it verifies what
proves the request is ours (a VAPID token, the service-account assertion and
the access token it bought, the APNs provider token), reads the payload as
the device would (decrypting Web Push with the subscriber's private key,
which the test holds), records what arrived, and answers from its script:
`answers` is consumed one request at a time, and when it is empty the
provider accepts. Only the host is local.
"""

from __future__ import annotations

import itertools
import json
import secrets
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import trio
import trustme
from attrs import define, field, frozen
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypercorn.config import Config
from hypercorn.trio import serve

from push._crypto import b64url, unb64url

from .keys import decrypt_webpush, private_point

#: Every wait for the pusher in these tests ends in failure after this long, so a bug fails, not hangs.
PATIENCE = 60.0


@frozen
class Answer:
    """One scripted answer; `hang` never answers (a provider that stopped responding), and
    one with `after` answers once that event is set (a request the test holds in flight)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    hang: bool = False
    after: trio.Event | None = field(default=None, eq=False)


HANG = Answer(0, hang=True)


def fcm_error(status: int, code: str, status_name: str = "INVALID_ARGUMENT") -> Answer:
    """An FCM HTTP v1 error answer with its FcmError detail."""
    body = {
        "error": {
            "code": status,
            "status": status_name,
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}],
        }
    }
    return Answer(status, (("content-type", "application/json"),), json.dumps(body).encode())


def apns_error(status: int, reason: str, timestamp: int | None = None) -> Answer:
    body: dict[str, Any] = {"reason": reason}
    if timestamp is not None:
        body["timestamp"] = timestamp
    return Answer(status, (("content-type", "application/json"),), json.dumps(body).encode())


@frozen
class Received:
    """A request as the provider saw it: `message` what the device would get, `error` a failed check."""

    path: str
    headers: dict[str, str]
    message: Any
    error: str | None
    at: float  # trio.current_time() on arrival
    http_version: str


@define
class LocalProvider:
    """What every provider here shares: the script, the record, an ASGI app around `handle`."""

    base_url: str = ""
    answers: deque[Answer] = field(factory=deque)
    received: list[Received] = field(factory=list)
    _arrived: trio.Event = field(factory=trio.Event)
    success: Answer = Answer(200)

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.error is None]

    async def wait_for(self, count: int) -> list[Received]:
        """The first `count` requests that passed the provider's checks, once they have arrived."""
        with trio.fail_after(PATIENCE):
            while len(self.accepted()) < count:
                await self._arrived.wait()
        return self.accepted()[:count]

    def _record(self, received: Received) -> None:
        self.received.append(received)
        self._arrived.set()
        self._arrived = trio.Event()

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Any:
        """The device's view of a request (raises `Refused` when a check fails)."""
        raise NotImplementedError

    def direct(self, path: str, body: bytes) -> Answer | None:
        """An answer for a request that is not a push (none here; FCM's token endpoint)."""
        return None

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        body = await http_body(scope, receive, send)
        if body is None:
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        path = scope["path"]
        direct = self.direct(path, body)
        if direct is not None:
            await respond(send, direct)
            return
        try:
            message, error = self.check(path, headers, body), None
            answer = self.answers.popleft() if self.answers else self.success
        except Refused as refusal:
            message, error = None, str(refusal)
            answer = Answer(refusal.status, body=str(refusal).encode())
        self._record(Received(path, headers, message, error, trio.current_time(), scope["http_version"]))
        if answer.hang:
            await trio.sleep_forever()
        if answer.after is not None:
            await answer.after.wait()
        await respond(send, answer)


async def http_body(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> bytes | None:
    """The body of an HTTP request; None for the lifespan scope, served here."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return None
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return body


async def respond(send: Callable[..., Any], answer: Answer) -> None:
    headers = [(k.encode(), v.encode()) for k, v in answer.headers]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


class Refused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


@frozen
class Subscriber:
    """A browser's subscription: the endpoint, and the keys only the browser (here the test) holds."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def fields(self) -> dict[str, str]:
        return {"p256dh": b64url(private_point(self.key)), "auth": b64url(self.auth)}


@define
class WebPushProvider(LocalProvider):
    """A push service (RFC 8030): VAPID checked against the subscription's key, the payload decrypted."""

    application_server_key: bytes = b""  # what the subscriber passed to pushManager.subscribe
    subscribers: dict[str, Subscriber] = field(factory=dict)
    success: Answer = Answer(201, (("location", "/message/1"),))
    _ids: itertools.count[int] = field(factory=itertools.count)

    def subscribe(self) -> Subscriber:
        name = f"s{next(self._ids)}"
        subscriber = Subscriber(f"{self.base_url}/push/{name}", ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))
        self.subscribers[name] = subscriber
        return subscriber

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Any:
        subscriber = self.subscribers.get(path.removeprefix("/push/"))
        if subscriber is None:
            raise Refused(404, "no such subscription")
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        params = dict(part.strip().split("=", 1) for part in credentials.split(",") if "=" in part)
        if scheme != "vapid" or "t" not in params or "k" not in params:
            raise Refused(401, "no VAPID authorization")
        if unb64url(params["k"]) != self.application_server_key:
            raise Refused(403, "k is not the subscription's application server key")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(params["k"]))
        try:
            claims = jwt.decode(params["t"], public, algorithms=["ES256"], audience=self.base_url,
                                options={"require": ["exp", "aud", "sub"]})  # fmt: skip
        except jwt.InvalidTokenError as error:
            raise Refused(403, f"VAPID token: {error}") from None
        if claims["exp"] > time.time() + 24 * 3600 or not claims["sub"].startswith(("mailto:", "https:")):
            raise Refused(403, "VAPID token: exp beyond 24 h or sub not a contact URL")
        if headers.get("content-encoding") != "aes128gcm" or not headers.get("ttl", "").isdigit():
            raise Refused(400, "content-encoding must be aes128gcm and TTL given")
        try:
            return json.loads(decrypt_webpush(body, subscriber.key, subscriber.auth))
        except Exception as error:
            raise Refused(400, f"cannot decrypt: {error!r}") from None


def service_account(key: rsa.RSAPrivateKey, token_uri: str, project: str = "chat-test") -> str:
    """A service-account key file as the Firebase console hands it out."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return json.dumps(
        {
            "type": "service_account",
            "project_id": project,
            "private_key_id": "kid-" + secrets.token_hex(4),
            "private_key": pem.decode(),
            "client_email": f"pusher@{project}.iam.gserviceaccount.com",
            "token_uri": token_uri,
        }
    )


@define
class FcmProvider(LocalProvider):
    """FCM HTTP v1 and Google's token endpoint: the assertion's signature and claims, then the token."""

    account: dict[str, Any] = field(factory=dict)
    public_key: rsa.RSAPublicKey | None = None
    token_lifetime: int = 3600
    tokens: dict[str, float] = field(factory=dict)  # access token -> wall-clock expiry
    assertions: int = 0

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/token":
            return self._token(body)
        if path != f"/v1/projects/{self.account['project_id']}/messages:send":
            raise Refused(404, "no such method")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or self.tokens.get(token, 0) <= time.time():
            raise Refused(401, "UNAUTHENTICATED: no valid access token")
        message = json.loads(body)["message"]
        if not all(isinstance(v, str) for v in message["data"].values()):
            raise Refused(400, "INVALID_ARGUMENT: data values must be strings")
        return message

    def _token(self, body: bytes) -> Any:
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise Refused(400, "unsupported_grant_type")
        try:
            header = jwt.get_unverified_header(form["assertion"])
            claims = jwt.decode(form["assertion"], self.public_key, algorithms=["RS256"],
                                audience=self.account["token_uri"], issuer=self.account["client_email"],
                                options={"require": ["exp", "iat", "aud", "iss"]})  # fmt: skip
        except (KeyError, jwt.InvalidTokenError) as error:
            raise Refused(400, f"invalid_grant: {error}") from None
        if header.get("kid") != self.account["private_key_id"]:
            raise Refused(400, "invalid_grant: kid is not the key's id")
        if claims.get("scope") != "https://www.googleapis.com/auth/firebase.messaging":
            raise Refused(400, "invalid_scope")
        if claims["exp"] - claims["iat"] > 3600:
            raise Refused(400, "invalid_grant: the assertion lives more than an hour")
        self.assertions += 1
        token = secrets.token_urlsafe(16)
        self.tokens[token] = time.time() + self.token_lifetime
        return {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    def direct(self, path: str, body: bytes) -> Answer | None:
        """The token endpoint answers itself, outside the message script and record."""
        if path != "/token":
            return None
        try:
            return Answer(200, body=json.dumps(self._token(body)).encode())
        except Refused as refusal:
            return Answer(refusal.status, body=json.dumps({"error": str(refusal)}).encode())


@define
class ApnsProvider(LocalProvider):
    """APNs: HTTP/2 only, the provider token's ES256 signature, key id and team checked."""

    public_key: ec.EllipticCurvePublicKey | None = None
    key_id: str = ""
    team_id: str = ""
    tokens_seen: set[str] = field(factory=set)

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Any:
        if not path.startswith("/3/device/"):
            raise Refused(404, "no such method")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"], options={"require": ["iat", "iss"]})
        except jwt.InvalidTokenError as error:
            raise Refused(403, f"InvalidProviderToken: {error}") from None
        if scheme != "bearer" or header.get("kid") != self.key_id or claims["iss"] != self.team_id:
            raise Refused(403, "InvalidProviderToken")
        if claims["iat"] < time.time() - 3600:
            raise Refused(403, "ExpiredProviderToken")
        if not headers.get("apns-topic") or headers.get("apns-push-type") not in ("alert", "background"):
            raise Refused(400, "MissingTopic or InvalidPushType")
        self.tokens_seen.add(token)
        return json.loads(body)


class Certificates:
    """A test CA and one server certificate for localhost and 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        leaf = self.ca.issue_cert("localhost", "127.0.0.1")
        self.cert, self.key = directory / "cert.pem", directory / "key.pem"
        leaf.cert_chain_pems[0].write_to_path(str(self.cert))
        leaf.private_key_pem.write_to_path(str(self.key))

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@asynccontextmanager
async def serving(app: Callable[..., Any], certificates: Certificates, *, h2_only: bool = False) -> AsyncIterator[str]:
    """Run the ASGI `app` on a free port of 127.0.0.1 over TLS; yields its base URL."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(certificates.cert), str(certificates.key)
    config.alpn_protocols = ["h2"] if h2_only else ["h2", "http/1.1"]
    config.accesslog = config.errorlog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, app, config)
        yield binds[0]
        nursery.cancel_scope.cancel()
