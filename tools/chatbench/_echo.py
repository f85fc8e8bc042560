"""The baseline: a bare trio-websocket server, the most this stack could ever do.

Run as a script in a process of its own (``python _echo.py --port 0``). It
imports trio and trio-websocket and nothing of the project, so whatever a
scenario measures against it is the cost of the transport alone:

``/echo``
    each message goes back to its sender (heartbeats, the reconnect storm);
``/relay/NAME``
    each message goes to every *other* connection on the same path, in
    order, one after the other: a chat node's one hop from sender to
    receivers with no protocol, no actors and no store (pingpong and
    throughput use relays of two, fanout relays of a whole group).

It runs with the cyclic GC tuned as ``bin/chatnode`` tunes it (start-up heap
frozen, young generation collected every 50,000 allocations): with the
default (700) the collector walks thousands of long-lived connections so
often that it, not the transport, would be the limit being measured.
"""

from __future__ import annotations

import argparse
import gc

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

RELAY = "/relay/"
GC_YOUNG_THRESHOLD = 50_000  # as bin/chatnode


async def echo(ws: WebSocketConnection) -> None:
    while True:
        await ws.send_message(await ws.get_message())


async def relay(ws: WebSocketConnection, members: list[WebSocketConnection]) -> None:
    while True:
        data = await ws.get_message()
        # A snapshot: members may join or leave while a send waits.
        for other in tuple(members):
            if other is not ws:
                try:
                    await other.send_message(data)
                except ConnectionClosed:
                    pass  # that member is leaving; its own handler removes it


async def serve(host: str, port: int, max_message: int) -> None:
    groups: dict[str, list[WebSocketConnection]] = {}

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            if request.path.startswith(RELAY):
                members = groups.setdefault(request.path, [])
                members.append(ws)
                try:
                    await relay(ws, members)
                finally:
                    members.remove(ws)
                    if not members:
                        del groups[request.path]
            else:
                await echo(ws)
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_websocket(
                handler, host, port, None, max_message_size=max_message, task_status=task_status
            )
        )
        print(f"echo: listening on ws://{host}:{server.port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="a bare trio-websocket echo and relay server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-message", type=int, default=1 << 20)
    args = parser.parse_args()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    trio.run(serve, args.host, args.port, args.max_message)


if __name__ == "__main__":
    main()
