"""A Connection against a peer that breaks the protocol, over a real socket.

The node never sends such frames, so the peer here is a WebSocket server of
a few lines that answers with what it is told to; everything on the
client's side is the real Connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import msgpack
import pytest
import trio
import trio_websocket

from client import Connection, ConnectionLost, ProtocolError

MSG: dict[str, Any] = {"channel": 8, "seq": 1, "sender": 11, "device": 12, "body": "hi", "ts": 5, "cid": "c1"}

Answer = Callable[[dict[str, Any]], Any]


async def scripted_node(nursery: trio.Nursery, answer: Answer, closed: list[int]) -> str:
    """A WebSocket peer that answers each request frame with the frames `answer(frame)` lists,
    maps packed, bytes and text as they are; the code of the close it gets goes into `closed`."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                for reply in answer(msgpack.unpackb(await ws.get_message())):
                    await ws.send_message(reply if isinstance(reply, bytes | str) else msgpack.packb(reply))
        except trio_websocket.ConnectionClosed as exc:
            closed.append(exc.reason.code)

    serve = partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
    server: trio_websocket.WebSocketServer = await nursery.start(serve)
    return f"ws://127.0.0.1:{server.port}/v1"


async def outcome(call: Awaitable[Any]) -> BaseException | None:
    try:
        await call
    except ConnectionLost as exc:
        return exc
    return None


async def requests_against(answer: Answer, nursery: trio.Nursery) -> tuple[list[BaseException | None], Connection, list[int]]:
    """A sync and a ping in flight together, then one more ping, against a peer answering with `answer`."""
    closed: list[int] = []
    url = await scripted_node(nursery, answer, closed)
    results: list[BaseException | None] = []
    async with Connection.open(url) as conn:
        async with trio.open_nursery() as calls:

            async def record(call: Awaitable[Any]) -> None:
                results.append(await outcome(call))

            calls.start_soon(record, conn.sync(7, 0))
            calls.start_soon(record, conn.ping())
        results.append(await outcome(conn.ping()))
    return results, conn, closed


def sync_gets(reply: Callable[[int], Any]) -> Answer:
    """Answer the sync with `reply(its id)` and leave every other request unanswered."""
    return lambda frame: [reply(frame["id"])] if frame["t"] == "sync" else []


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda i: {"t": "ok", "id": i, "messages": [MSG], "more": False}, id="a page of another channel"),
        pytest.param(lambda i: {"t": "ok", "id": i, "messages": [{**MSG, "channel": 7, "seq": -1}], "more": False}, id="a negative seq"),
        pytest.param(lambda i: {"t": "typing", "id": i, "channel": 1, "user": 1}, id="an event with an id"),
        pytest.param(lambda i: b"\xc1", id="not msgpack"),
        pytest.param(lambda i: "a text message", id="a text message"),
    ],
)
async def test_a_frame_that_breaks_the_protocol_ends_every_request_in_flight_with_protocol_error(
    reply: Callable[[int], Any], nursery: trio.Nursery
) -> None:
    results, conn, closed = await requests_against(sync_gets(reply), nursery)
    assert [type(result) for result in results] == [ProtocolError] * 3, results
    assert all(isinstance(result, ConnectionLost) for result in results), "a ConnectionLost to retry logic"
    assert conn.close_reason is not None and conn.close_reason.startswith("protocol violation by the node")
    with trio.fail_after(5):
        while not closed:
            await trio.sleep(0.01)
    assert closed == [1002], "closed as a protocol error"


async def test_an_event_type_newer_than_the_client_passes_unseen(nursery: trio.Nursery) -> None:
    def answer(frame: dict[str, Any]) -> list[Any]:
        page = {"t": "ok", "id": frame["id"], "messages": [{**MSG, "channel": 7}], "more": False}
        return [{"t": "reaction", "channel": 1}, page]

    url = await scripted_node(nursery, answer, [])
    async with Connection.open(url) as conn:
        page = await conn.sync(7, 0)
        assert [m.seq for m in page.messages] == [1]
        assert not conn.closed
        assert conn.events().statistics().current_buffer_used == 0
