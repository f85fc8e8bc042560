"""Attacks by numbers of connections, each beside an innocent client (issue 12, item 4).

Each test runs an attack as it was first tried against the node and asserts
the attacker is refused or throttled with the documented code while an
innocent client keeps working:
- many connections of one device sending: one bucket's worth of sends in all;
- 500 connections of one device: at most `max_connections_per_device` of
  them get its messages, not 500;
- more connections of a user than `max_connections_per_user`;
- connections from one address stalled in their handshake, or left
  unauthenticated: capped per address, another address served;
- a TLS handshake that never ends is cut at the handshake time-out;
- `max_connections` beyond what the open files limit allows.

Every client here connects from 127.0.0.1 unless it binds 127.0.0.2 (Linux
routes all of 127/8 to loopback): the address caps see two peers.
"""

from __future__ import annotations

import logging
import resource
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import (
    ConnectionRejected,
    WebSocketConnection,
    connect_websocket_url,
    open_websocket_url,
    wrap_client_stream,
)

from actors import Node, server_tls_context
from actors._admission import connection_budget
from actors._web import RESOURCE
from protocol import Limits

from ..conftest import OpenStore
from ..tls import self_signed
from .conftest import running_node
from .raw import call, next_frame, reply_to, send_frame, sign_up

INNOCENT_ADDRESS = "127.0.0.2"


@asynccontextmanager
async def websocket_from(address: str, node: Node) -> AsyncIterator[WebSocketConnection]:
    """A WebSocket to the node from a socket bound to `address`."""
    assert node.gateway.port is not None
    stream = await trio.open_tcp_stream("127.0.0.1", node.gateway.port, local_address=address)
    async with trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, "127.0.0.1", RESOURCE)
        try:
            yield ws
        finally:
            await ws.aclose()


async def innocent_is_served(ws: WebSocketConnection, name: str) -> None:
    """The innocent signs up, makes a group and sends into it: every step answered `ok`."""
    await sign_up(ws, f"{name}_{secrets.token_hex(4)}")
    group = await call(ws, t="group", name="innocent", members=[])
    assert group["t"] == "ok", group
    sent = await call(ws, t="send", channel=group["channel"], body="still here", cid="innocent")
    assert sent["t"] == "ok", sent


async def authenticate(ws: WebSocketConnection, token: str) -> dict[str, Any]:
    return await call(ws, t="auth", token=token)


def assert_refused_at_a_cap(reply: dict[str, Any]) -> None:
    assert reply["t"] == "err" and reply["code"] == "rate_limited", reply
    assert reply["retry"] > 0, reply


# -- limits per device and per user -----------------------------------------------


async def test_connections_of_one_device_share_one_send_bucket(open_store: OpenStore) -> None:
    """Four connections of one device (its cap), each pipelining a burst of
    sends: one burst in all is accepted, the rest are `rate_limited` with a
    retry. Sends refused as too long cost nothing. Another user's device
    has a bucket of its own."""
    burst, rate = 20, 0.01  # refills one send in 100 s: none during the test
    limits = Limits(send_burst=burst, send_rate=rate)
    async with running_node(open_store, limits=limits) as node, AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(open_websocket_url(node.url)) for _ in range(4)]
        first, *others = connections
        token = (await sign_up(first, f"flooder_{secrets.token_hex(4)}"))["token"]
        for ws in others:
            assert (await authenticate(ws, token))["t"] == "ok"
        channel = (await call(first, t="group", name="flood", members=[]))["channel"]
        start = trio.current_time()
        for ws in connections:
            too_long = await call(ws, t="send", channel=channel, body="x" * 100_001, cid="too-long")
            assert too_long["code"] == "too_long", too_long
        requests = [
            [await send_frame(ws, t="send", channel=channel, body="flood", cid=f"{i}-{n}") for n in range(burst)]
            for i, ws in enumerate(connections)
        ]
        replies = [await reply_to(ws, request) for ws, sent in zip(connections, requests) for request in sent]
        elapsed = trio.current_time() - start
        accepted = [reply for reply in replies if reply["t"] == "ok"]
        throttled = [reply for reply in replies if reply["t"] == "err"]
        assert burst <= len(accepted) <= burst + rate * elapsed, (len(accepted), elapsed)
        assert len(accepted) + len(throttled) == 4 * burst
        for reply in throttled:
            assert_refused_at_a_cap(reply)
        async with open_websocket_url(node.url) as innocent:
            await innocent_is_served(innocent, "innocent")


async def test_five_hundred_connections_of_one_device_get_its_messages_on_four(open_store: OpenStore) -> None:
    """One device opens 500 connections, and another device of the same
    user sends 100 messages: once 50,000 frames. Past the first four,
    `auth` is refused (`rate_limited`, retry); the four get 100 each, and
    the refused ones, closed, got none."""
    limits = Limits()
    cap, messages = limits.max_connections_per_device, 100
    async with running_node(open_store, limits=limits) as node, trio.open_nursery() as nursery:
        sender = await connect_websocket_url(nursery, node.url)
        username = f"amplifier_{secrets.token_hex(4)}"
        await sign_up(sender, username)
        other = await connect_websocket_url(nursery, node.url)
        login = await call(other, t="login", username=username, password="correct horse", device="many")
        admitted: list[WebSocketConnection] = []
        refused = 0
        for _ in range(500):
            ws = await connect_websocket_url(nursery, node.url)
            reply = await authenticate(ws, login["token"])
            if reply["t"] == "ok":
                admitted.append(ws)
            else:
                assert_refused_at_a_cap(reply)
                refused += 1
                await ws.aclose()
        assert (len(admitted), refused) == (cap, 500 - cap)
        channel = (await call(sender, t="group", name="amplified", members=[]))["channel"]
        for n in range(messages):
            assert (await call(sender, t="send", channel=channel, body="boom", cid=f"m{n}"))["t"] == "ok"
        with trio.fail_after(60):
            for ws in admitted:
                received = 0
                while received < messages:
                    frame = await next_frame(ws)
                    received += frame["t"] == "msg"
        async with websocket_from(INNOCENT_ADDRESS, node) as innocent:
            await innocent_is_served(innocent, "innocent")
        for ws in [sender, other, *admitted]:
            await ws.aclose()


async def test_a_user_has_at_most_sixteen_connections_over_all_devices(open_store: OpenStore) -> None:
    """Four devices of one user with four connections each fill the user's
    cap: the next `auth`, of a fifth device, is refused (`rate_limited`,
    retry) while the sixteen keep working; one of them closing lets it in."""
    limits = Limits()
    per_device, per_user = limits.max_connections_per_device, limits.max_connections_per_user
    async with running_node(open_store, limits=limits) as node, trio.open_nursery() as nursery:
        username = f"hoarder_{secrets.token_hex(4)}"
        first = await connect_websocket_url(nursery, node.url)
        await sign_up(first, username)
        tokens = []
        for device in range(per_user // per_device + 1):
            ws = await connect_websocket_url(nursery, node.url)
            login = await call(ws, t="login", username=username, password="correct horse", device=f"d{device}")
            tokens.append(login["token"])
            await ws.aclose()
        await first.aclose()
        live = []
        for token in tokens[:-1]:
            for _ in range(per_device):
                ws = await connect_websocket_url(nursery, node.url)
                assert (await authenticate(ws, token))["t"] == "ok"
                live.append(ws)
        assert len(live) == per_user
        extra = await connect_websocket_url(nursery, node.url)
        assert_refused_at_a_cap(await authenticate(extra, tokens[-1]))
        for ws in live:
            assert (await call(ws, t="ping"))["t"] == "ok"
        async with websocket_from(INNOCENT_ADDRESS, node) as innocent:
            await innocent_is_served(innocent, "innocent")
        await live.pop().aclose()
        with trio.fail_after(10):
            while (reply := await authenticate(extra, tokens[-1]))["t"] != "ok":
                assert_refused_at_a_cap(reply)  # until the user's actor has seen the close
                await trio.sleep(0.05)
        for ws in [extra, *live]:
            await ws.aclose()


# -- caps per peer address --------------------------------------------------------


HANDSHAKE = (
    b"GET " + RESOURCE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def wait_until(condition: Any) -> None:
    with trio.fail_after(10):
        while not condition():
            await trio.sleep(0.01)


async def test_handshakes_in_progress_are_capped_per_address_with_a_503(open_store: OpenStore) -> None:
    """Connections that never finish their handshake (slowloris) fill their
    address's cap; the next one from that address is answered HTTP 503
    before its handshake, one from another address is served, and once the
    stalled ones are cut at the handshake time-out, the address is served
    again."""
    async with running_node(open_store, max_handshakes_per_ip=4, handshake_timeout=3.0) as node:
        assert node.gateway.port is not None
        stalled = [await trio.open_tcp_stream("127.0.0.1", node.gateway.port) for _ in range(4)]
        for stream in stalled:
            await stream.send_all(HANDSHAKE[:20])
        await wait_until(lambda: node.gateway.peers.handshakes("127.0.0.1") == 4)
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(node.url):
                pass
        assert rejected.value.status_code == 503
        async with websocket_from(INNOCENT_ADDRESS, node) as innocent:
            await innocent_is_served(innocent, "innocent")
        await wait_until(lambda: node.gateway.peers.handshakes("127.0.0.1") == 0)
        for stream in stalled:
            await stream.aclose()
        async with open_websocket_url(node.url) as again:
            assert (await call(again, t="ping"))["t"] == "ok"


async def test_unauthenticated_connections_are_capped_per_address_with_a_503(open_store: OpenStore) -> None:
    """Open WebSockets that never authenticate (they may ping) fill their
    address's cap: the next connection from it gets HTTP 503, one from
    another address is served; an `auth` on one of them frees its slot."""
    async with running_node(open_store, max_unauthenticated_per_ip=4) as node, trio.open_nursery() as nursery:
        async with websocket_from(INNOCENT_ADDRESS, node) as setup:
            token = (await sign_up(setup, f"squatter_{secrets.token_hex(4)}"))["token"]
        squatters = [await connect_websocket_url(nursery, node.url) for _ in range(4)]
        for ws in squatters:
            assert (await call(ws, t="ping"))["t"] == "ok"
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(node.url):
                pass
        assert rejected.value.status_code == 503
        async with websocket_from(INNOCENT_ADDRESS, node) as innocent:
            await innocent_is_served(innocent, "innocent")
        assert (await authenticate(squatters[0], token))["t"] == "ok"
        async with open_websocket_url(node.url) as admitted:
            assert (await call(admitted, t="ping"))["t"] == "ok"
        for ws in squatters:
            await ws.aclose()


async def test_a_tls_handshake_that_never_ends_is_cut_at_the_handshake_timeout(
    open_store: OpenStore, tmp_path: Path
) -> None:
    """A TCP connection to a `wss://` node that starts no TLS handshake, and
    one that sends plain HTTP, are closed within `handshake_timeout`; a
    TLS client connecting meanwhile is served."""
    certificate = self_signed(tmp_path)
    tls = server_tls_context(str(certificate.cert), str(certificate.key))
    async with running_node(open_store, tls=tls, handshake_timeout=0.5) as node:
        assert node.url.startswith("wss://") and node.gateway.port is not None
        silent = await trio.open_tcp_stream("127.0.0.1", node.gateway.port)
        plain = await trio.open_tcp_stream("127.0.0.1", node.gateway.port)
        await plain.send_all(HANDSHAKE)
        async with open_websocket_url(node.url, ssl_context=certificate.client_context()) as client:
            await innocent_is_served(client, "tls_user")
        with trio.fail_after(10):
            assert await silent.receive_some() == b""
            while await plain.receive_some():
                pass  # a TLS alert, perhaps, then the end of the stream
        await wait_until(lambda: node.gateway.peers.handshakes("127.0.0.1") == 0)


# -- the open files limit ---------------------------------------------------------


@pytest.fixture
def low_soft_descriptor_limit() -> Iterator[int]:
    """The soft RLIMIT_NOFILE at 1,024 for the test (as many systems start a process); the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_max_connections_fits_the_open_files_limit_raised_to_the_hard_limit(
    open_store: OpenStore, low_soft_descriptor_limit: int, caplog: pytest.LogCaptureFixture
) -> None:
    """100,000 connections configured, 1,024 descriptors allowed: the node
    raises the soft limit to the hard one and accepts no more connections
    than that leaves room for beside its store and files, and says so."""
    caplog.set_level(logging.INFO, logger="actors._gateway")
    async with running_node(open_store, max_connections=100_000) as node:
        hard = low_soft_descriptor_limit
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
        assert node.gateway.max_connections == connection_budget(100_000, hard) < hard
        assert f"accepting at most {node.gateway.max_connections} connections" in caplog.text
