"""The gateway as each device's supervisor (the connection limit, crash
containment, drain, stop, the kernel's bound on unacknowledged data), and a
device's limit of requests in flight."""

from __future__ import annotations

import logging
import secrets
import socket
import sqlite3
import struct
from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url, wrap_client_stream

from actors import Node
from actors._gateway import TRY_AGAIN_LATER, _bound_unacknowledged
from actors._session import MAX_IN_FLIGHT, ROUTES, DeviceSession, Mode, Route
from actors._web import RESOURCE
from protocol import Limits, LookupRequest

from storage import EmbeddedStore

from ..conftest import OpenStore
from .conftest import node_config, running_node
from .raw import call, next_frame, send_frame, sign_up


async def close_code(ws: WebSocketConnection) -> int:
    """Read until the node closes the connection; its close code."""
    with trio.fail_after(10):
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as closed:
            return closed.reason.code


async def next_bye(ws: WebSocketConnection) -> dict[str, object]:
    with trio.fail_after(10):
        while True:
            frame = await next_frame(ws)
            if frame["t"] == "bye":
                return frame


async def wait_for_connections(node: Node, count: int) -> None:
    with trio.fail_after(10):
        while node.gateway.connections != count:
            await trio.sleep(0.01)


async def test_connections_over_the_limit_are_refused_with_1013_and_counted_out_when_gone(
    open_store: OpenStore,
) -> None:
    async with running_node(open_store, max_connections=2) as node:
        async with open_websocket_url(node.url) as first, open_websocket_url(node.url) as second:
            assert (await call(first, t="ping"))["t"] == "ok"
            assert (await call(second, t="ping"))["t"] == "ok"
            assert node.gateway.connections == 2
            async with open_websocket_url(node.url) as third:
                assert await close_code(third) == TRY_AGAIN_LATER
            assert node.gateway.connections == 2
            await first.aclose()
            await wait_for_connections(node, 1)
            async with open_websocket_url(node.url) as fourth:
                assert (await call(fourth, t="ping"))["t"] == "ok"


async def test_a_session_crash_closes_only_its_connection_and_is_logged_once(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = ROUTES[LookupRequest].handler

    async def lookup_with_a_bug(session: DeviceSession, request: LookupRequest) -> object:
        if request.username == "crash_me":
            raise RuntimeError("a bug in a handler")
        return await lookup(session, request)

    monkeypatch.setitem(ROUTES, LookupRequest, Route(lookup_with_a_bug, Mode.TASK))
    caplog.set_level(logging.ERROR)
    async with running_node(open_store) as node:
        async with open_websocket_url(node.url) as bystander, open_websocket_url(node.url) as crasher:
            await sign_up(bystander, f"bystander_{secrets.token_hex(4)}")
            await sign_up(crasher, f"crasher_{secrets.token_hex(4)}")
            await wait_for_connections(node, 2)
            await send_frame(crasher, t="lookup", username="crash_me")
            await close_code(crasher)
            await wait_for_connections(node, 1)
            assert (await call(bystander, t="ping"))["t"] == "ok"
            async with open_websocket_url(node.url) as newcomer:
                assert (await call(newcomer, t="ping"))["t"] == "ok"
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "crashed" in error.getMessage()
    assert error.exc_info is not None and "a bug in a handler" in caplog.text  # with its traceback


async def test_drain_stops_accepting_and_says_bye_to_the_connected_devices(open_store: OpenStore) -> None:
    async with running_node(open_store) as node, trio.open_nursery() as nursery:
        async with open_websocket_url(node.url) as device:
            await sign_up(device, f"device_{secrets.token_hex(4)}")
            nursery.start_soon(node.gateway.drain, 1000, 10.0)
            bye = await next_bye(device)
            assert bye == {"t": "bye", "reason": "draining", "retry": 1000}
            with trio.fail_after(10), pytest.raises((OSError, HandshakeError)):
                async with open_websocket_url(node.url):
                    pass


async def test_a_handshake_finishing_after_drain_began_is_refused_with_1013(open_store: OpenStore) -> None:
    async with running_node(open_store) as node, trio.open_nursery() as nursery:
        assert node.gateway.port is not None
        stream = await trio.open_tcp_stream("127.0.0.1", node.gateway.port)  # accepted, no handshake yet
        await trio.sleep(0.1)
        nursery.start_soon(node.gateway.drain, 1000, 10.0)
        await trio.sleep(0.1)
        ws = await wrap_client_stream(nursery, stream, "127.0.0.1", RESOURCE)
        assert await close_code(ws) == TRY_AGAIN_LATER


async def test_a_connection_that_does_not_finish_its_handshake_in_time_is_closed(open_store: OpenStore) -> None:
    """Half a request, then silence (slowloris): the node closes the socket
    after `handshake_timeout`, and serves a device that connects meanwhile."""
    async with running_node(open_store, handshake_timeout=0.5) as node:
        assert node.gateway.port is not None
        stalled = await trio.open_tcp_stream("127.0.0.1", node.gateway.port)
        await stalled.send_all(b"GET " + RESOURCE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        async with open_websocket_url(node.url) as bystander:
            assert (await call(bystander, t="ping"))["t"] == "ok"
        with trio.fail_after(10):
            assert await stalled.receive_some() == b""  # the node's FIN
        assert node.gateway.connections == 0


async def silent_device(port: int) -> trio.SocketStream:
    """A WebSocket client that completes the handshake and then never reads again."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(
        b"GET " + RESOURCE.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += await stream.receive_some()
    assert response.startswith(b"HTTP/1.1 101"), response
    return stream


async def test_a_node_stop_ends_every_session_within_the_drain_timeout(open_store: OpenStore) -> None:
    drain_timeout = 0.5
    async with open_store() as store:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(Node(node_config(drain_timeout=drain_timeout), store).run)
            assert node.gateway.port is not None
            async with open_websocket_url(node.url) as device:
                await sign_up(device, f"device_{secrets.token_hex(4)}")
                # It never answers the close handshake, which would hold its
                # session for the close grace (2 s) if nothing cut it short.
                silent = await silent_device(node.gateway.port)
                await wait_for_connections(node, 2)
                start = trio.current_time()
                nursery.start_soon(node.drain)
                with trio.fail_after(10):
                    while await silent.receive_some():
                        pass  # the bye and the close frame, then the end of the stream
                ended = trio.current_time() - start
        assert ended < drain_timeout + 1.0
        assert node.gateway.connections == 0


async def test_a_device_has_at_most_max_in_flight_requests_answered_at_once(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """Past the limit the session stops reading the device's frames. A backup
    (another connection) holds the database's write lock while the device
    pipelines one write more than the limit (removing its push target: a
    write transaction, and one no cap limits), then a `ping`: the ping is
    read, and answered, only once a write is answered."""
    path = tmp_path / "chat.db"
    store = await EmbeddedStore.open(path, busy_timeout=60)
    node = await nursery.start(Node(node_config(), store).run)
    async with open_websocket_url(node.url) as device:
        await sign_up(device, f"device_{secrets.token_hex(4)}")
        backup = sqlite3.connect(path, isolation_level=None)
        backup.execute("BEGIN IMMEDIATE")
        writes = [await send_frame(device, t="push", endpoint=None) for _ in range(MAX_IN_FLIGHT + 1)]
        ping = await send_frame(device, t="ping")
        await trio.sleep(1)  # with no limit the ping would be answered meanwhile
        backup.execute("ROLLBACK")
        backup.close()
        answered: list[dict[str, object]] = []
        with trio.fail_after(30):
            while len(answered) < len(writes) + 1:
                frame = await next_frame(device)
                if frame["t"] in ("ok", "err"):
                    answered.append(frame)
    assert {frame["id"] for frame in answered} == {*writes, ping}
    assert all(frame["t"] == "ok" for frame in answered)
    assert answered[0]["id"] != ping
    await node.drain()
    await store.aclose()


async def test_peers_gone_before_the_handshake_answer_disturb_no_one(open_store: OpenStore) -> None:
    """Each peer sends its handshake and resets the connection at once, so
    the node's answer (101, or 404 on a wrong path) hits a dead socket: that
    ends the peer's handler, not the gateway with every session in it."""
    async with running_node(open_store) as node:
        assert node.gateway.port is not None
        async with open_websocket_url(node.url) as bystander:
            await sign_up(bystander, f"bystander_{secrets.token_hex(4)}")
            for attempt in range(40):
                path = RESOURCE if attempt % 2 else "/elsewhere"
                stream = await trio.open_tcp_stream("127.0.0.1", node.gateway.port)
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                await stream.send_all(
                    b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"
                )
                await stream.aclose()  # with SO_LINGER 0: a reset, no FIN
            await trio.sleep(0.5)
            assert (await call(bystander, t="ping"))["t"] == "ok"


async def test_the_kernel_gives_up_on_unacknowledged_data_after_the_idle_timeout() -> None:
    """TCP_USER_TIMEOUT on each accepted socket: a peer that vanished without a FIN holds its
    socket no longer than a silent one would hold its session."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with await trio.open_tcp_stream("127.0.0.1", port), await listeners[0].accept() as accepted:
        _bound_unacknowledged(accepted, Limits().idle_timeout)
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
    await listeners[0].aclose()
