"""`web-push-testing` (npm), a Web Push service emulator no one here wrote, behind a TLS relay.

It checks the VAPID token with its own JWT library and decrypts with its own
http_ece, and reports the plaintext it read. It speaks plain HTTP/1.1 on
localhost, and the pusher calls only https: so the tests reach it through
`Relay`, which terminates TLS and HTTP/2 and passes each request on
unchanged (bytes and headers), like the load balancer in front of a real
push service.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
from attrs import define

from .servers import PATIENCE, Answer, Certificates, http_body, respond, serving

PACKAGE = Path(__file__).resolve().parent
SERVER = PACKAGE / "node_modules" / "web-push-testing" / "src" / "bin" / "server.js"
#: Request headers the relay passes on: those a push service reads.
PASSED = ("authorization", "content-encoding", "content-type", "ttl", "urgency", "topic")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@define
class Relay:
    """An ASGI app that forwards every request to the emulator and its answer back."""

    upstream: str
    client: httpx.AsyncClient

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        body = await http_body(scope, receive, send)
        if body is None:
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.decode().lower() in PASSED}
        answer = await self.client.post(self.upstream + scope["path"], content=body, headers=headers)
        await respond(send, Answer(answer.status_code, body=answer.content))


@define
class Emulator:
    """The running emulator: `subscribe` as a browser would, `messages` as it decrypted them."""

    url: str  # plain HTTP, for the test's own calls
    relay: str  # https, for the pusher
    client: httpx.AsyncClient

    async def subscribe(self, application_server_key: str) -> dict[str, Any]:
        answer = await self.client.post(
            f"{self.url}/subscribe", json={"userVisibleOnly": "true", "applicationServerKey": application_server_key}
        )
        answer.raise_for_status()
        subscription: dict[str, Any] = answer.json()["data"]
        # The endpoint names the emulator's own plain port; the pusher goes through the relay.
        subscription["endpoint"] = subscription["endpoint"].replace(self.url, self.relay)
        return subscription

    async def messages(self, client_hash: str) -> list[str]:
        answer = await self.client.post(f"{self.url}/get-notifications", json={"clientHash": client_hash})
        answer.raise_for_status()
        return list(answer.json()["data"]["messages"])


@asynccontextmanager
async def web_push_testing(certificates: Certificates) -> AsyncIterator[Emulator]:
    if not SERVER.exists():
        raise RuntimeError(f"web-push-testing is not installed: run `npm ci` in {PACKAGE} (make test does)")
    port = _free_port()
    process = await trio.lowlevel.open_process(
        ["node", str(SERVER), str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(PACKAGE)
    )
    try:
        assert process.stdout is not None
        seen = b""
        with trio.fail_after(PATIENCE):
            while b"Server running" not in seen:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    raise RuntimeError(f"web-push-testing exited: {seen.decode(errors='replace')}")
                seen += chunk
        url = f"http://localhost:{port}"
        async with httpx.AsyncClient(trust_env=False) as client:
            async with serving(Relay(url, client), certificates) as relay:
                yield Emulator(url, relay, client)
    finally:
        process.terminate()
        with trio.move_on_after(10):
            await process.wait()
