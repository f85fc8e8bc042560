"""Malformed input gets its specified error or close code, and disturbs no one else.

Each test runs a bystander pair (alice talks to bob over a direct channel)
next to the misbehaving connection and checks after the abuse that bob still
receives alice's message on the same node.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection, open_websocket_url

from actors import Node

from .raw import call, next_frame, sign_up


def name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


class Bystanders:
    """Two users on the node whose conversation must survive the test."""

    def __init__(self, alice: WebSocketConnection, bob: WebSocketConnection, channel: int) -> None:
        self.alice, self.bob, self.channel = alice, bob, channel

    async def still_talking(self) -> None:
        body = name("still here")
        sent = await call(self.alice, t="send", channel=self.channel, body=body, cid=name("cid"))
        assert sent["t"] == "ok"
        with trio.fail_after(10):
            while True:
                frame = await next_frame(self.bob)
                if frame["t"] == "msg" and frame["body"] == body:
                    return


@pytest.fixture
async def bystanders(node: Node) -> AsyncIterator[Bystanders]:
    async with open_websocket_url(node.url) as alice, open_websocket_url(node.url) as bob:
        await sign_up(alice, name("alice"))
        bob_auth = await sign_up(bob, name("bob"))
        direct = await call(alice, t="direct", user=bob_auth["user"])
        yield Bystanders(alice, bob, direct["channel"])


async def expect_close(ws: WebSocketConnection) -> tuple[int, list[dict[str, Any]]]:
    """Read until the server closes; the close code and the frames before it."""
    frames = []
    with trio.fail_after(10):
        try:
            while True:
                frames.append(await next_frame(ws))
        except ConnectionClosed as closed:
            return closed.reason.code, frames


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("{'t': 'ping', 'id': 1}", id="text-message"),
        pytest.param(b"\xc1\x00garbage", id="not-msgpack"),
        pytest.param(msgpack.packb([1, 2, 3]), id="array-not-map"),
        pytest.param(msgpack.packb(42), id="integer-not-map"),
        pytest.param(msgpack.packb({1: "int key"}), id="non-string-key"),
        pytest.param(b"\x91" * 8000 + b"\x80", id="deeply-nested"),  # within the 8 KiB allowed before auth
        pytest.param(msgpack.packb({"t": "ping", "id": 1})[:-1], id="truncated"),
    ],
)
async def test_unsupported_data_closes_with_1003(node: Node, bystanders: Bystanders, data: bytes | str) -> None:
    async with open_websocket_url(node.url) as ws:
        await ws.send_message(data)
        code, frames = await expect_close(ws)
    assert code == 1003
    assert [frame["code"] for frame in frames] == ["bad_request"]
    await bystanders.still_talking()


async def test_oversize_message_closes_with_1009(node: Node, bystanders: Bystanders) -> None:
    async with open_websocket_url(node.url) as ws:
        # Before `auth` the node stops reading at 8 KiB: maybe before all is sent.
        with contextlib.suppress(ConnectionClosed):
            await ws.send_message(b"\x00" * (node.config.limits.max_message_bytes + 1))
        code, _ = await expect_close(ws)
    assert code == 1009
    await bystanders.still_talking()


BAD_REQUESTS = [
    pytest.param({"t": "teleport"}, id="unknown-t"),
    pytest.param({"t": 42}, id="t-not-a-string"),
    pytest.param({"t": "send", "channel": 1, "cid": "x"}, id="missing-body"),
    pytest.param({"t": "send", "channel": "one", "body": "x", "cid": "x"}, id="channel-not-int"),
    pytest.param({"t": "send", "channel": 1 << 63, "body": "x", "cid": "x"}, id="channel-over-63-bits"),
    pytest.param({"t": "send", "channel": -5, "body": "x", "cid": "x"}, id="negative-id"),
    pytest.param({"t": "send", "channel": 1, "body": b"bytes", "cid": "x"}, id="body-bytes"),
    pytest.param({"t": "send", "channel": 1, "body": "x", "cid": ""}, id="empty-cid"),
    pytest.param({"t": "sync", "channel": 1, "after": 0, "limit": 501}, id="page-over-500"),
    pytest.param({"t": "sync", "channel": 1, "after": 0, "limit": 0}, id="page-zero"),
    pytest.param({"t": "group", "name": "", "members": []}, id="empty-group-name"),
    pytest.param({"t": "group", "name": "g", "members": [[[[1]]]]}, id="nested-members"),
    pytest.param({"t": "sync", "channel": 1, "after": True}, id="bool-for-int"),
]


@pytest.mark.parametrize("fields", BAD_REQUESTS)
async def test_malformed_request_gets_bad_request_and_stays_open(
    node: Node, bystanders: Bystanders, fields: dict[str, Any]
) -> None:
    async with open_websocket_url(node.url) as ws:
        await sign_up(ws, name("mallory"))
        reply = await call(ws, **fields)
        assert (reply["t"], reply["code"]) == ("err", "bad_request")
        assert (await call(ws, t="ping"))["t"] == "ok", "the connection stays open"
    await bystanders.still_talking()


async def test_request_id_must_be_an_integer(node: Node) -> None:
    async with open_websocket_url(node.url) as ws:
        await ws.send_message(msgpack.packb({"t": "ping", "id": "seven"}))
        reply = await next_frame(ws)
        assert (reply["t"], reply["code"], reply["id"]) == ("err", "bad_request", None)
        assert (await call(ws, t="ping"))["t"] == "ok"


async def test_requests_before_auth_are_unauthenticated(node: Node) -> None:
    async with open_websocket_url(node.url) as ws:
        for fields in ({"t": "channels"}, {"t": "send", "channel": 1, "body": "x", "cid": "c"}, {"t": "sync", "channel": 1, "after": 0}):
            reply = await call(ws, **fields)
            assert (reply["t"], reply["code"]) == ("err", "unauthenticated")
        assert (await call(ws, t="ping"))["t"] == "ok"


async def test_bad_token_and_bad_credentials(node: Node) -> None:
    async with open_websocket_url(node.url) as ws:
        reply = await call(ws, t="auth", token="not-a-token")
        assert reply["code"] == "bad_token"
        username = name("carol")
        await call(ws, t="register", username=username, password="right password")
        reply = await call(ws, t="login", username=username, password="wrong password", device="d")
        assert reply["code"] == "bad_credentials"
        reply = await call(ws, t="login", username=name("nobody"), password="whatever1", device="d")
        assert reply["code"] == "bad_credentials"
        reply = await call(ws, t="register", username=username, password="another one")
        assert reply["code"] == "username_taken"


async def test_wrong_resource_path_is_refused(node: Node) -> None:
    url = node.url.removesuffix("/v1") + "/v2"
    with pytest.raises(ConnectionRejected) as refused:
        async with open_websocket_url(url):
            pass
    assert refused.value.status_code == 404
