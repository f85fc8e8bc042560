"""Speaking to a node frame by frame, for tests that must send what no client would."""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
from trio_websocket import WebSocketConnection

_ids = itertools.count(1)


async def send_frame(ws: WebSocketConnection, **fields: Any) -> int:
    """Send a request built from `fields`, with a fresh id unless one is given."""
    fields.setdefault("id", next(_ids))
    await ws.send_message(msgpack.packb(fields, use_bin_type=True))
    return fields["id"]


async def next_frame(ws: WebSocketConnection) -> dict[str, Any]:
    data = await ws.get_message()
    assert isinstance(data, bytes), "the server sends binary messages only"
    frame = msgpack.unpackb(data, raw=False)
    assert isinstance(frame, dict)
    return frame


async def reply_to(ws: WebSocketConnection, request_id: int) -> dict[str, Any]:
    """The reply with this id, skipping events that arrive before it."""
    while True:
        frame = await next_frame(ws)
        if frame.get("id") == request_id and frame["t"] in ("ok", "err"):
            return frame


async def call(ws: WebSocketConnection, **fields: Any) -> dict[str, Any]:
    return await reply_to(ws, await send_frame(ws, **fields))


async def sign_up(ws: WebSocketConnection, username: str, password: str = "correct horse") -> dict[str, Any]:
    """Register, log in and authenticate on `ws`; the `auth` reply (user, device)."""
    registered = await call(ws, t="register", username=username, password=password)
    assert registered["t"] == "ok", registered
    login = await call(ws, t="login", username=username, password=password, device="test")
    assert login["t"] == "ok", login
    auth = await call(ws, t="auth", token=login["token"])
    assert auth["t"] == "ok", auth
    return {**auth, "token": login["token"]}
