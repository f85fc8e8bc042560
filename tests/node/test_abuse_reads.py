"""Big page reads against a real `chatnode serve`: however many, the node's memory stays bounded.

The attack as it was found: a channel of messages with ~400 KB bodies, and a
few connections that keep 32 `sync`/`history` requests in flight each. Each
page read then took 50 rows (20 MB of bodies) before trimming to a message,
and the embedded store's worker handed every queued result back at once: the
node went from 125 MB to 1.9 GB. Now a page read holds about one WebSocket
message of bodies and a worker hop about four, so the node grows by at most
READ_GROWTH_BOUND while an innocent pair beside the readers goes on talking.

The node runs in its own process so that its RSS (VmRSS in /proc) is its
own, not the test's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from storage import ScyllaCluster

from ..operator.chatnode import Serving, serving
from .raw import call, next_frame, reply_to, send_frame, sign_up

#: A body at the protocol's limit in four-byte characters: 400,000 bytes.
BODY = "\U0001f600" * 100_000
MESSAGES = 60
READERS = 3
IN_FLIGHT = 32  # the session's own cap on requests answered at once
ROUNDS = 3

#: What the node may grow by over its RSS before the reads, per store.
#: Embedded: reads pass one worker thread in hops of HOP_BYTES, so few hold
#: their page at once (measured +52 to +63 MiB on the 2-core machine; the
#: same load before the byte budgets: +1,536 MiB). Scylla: all 3 x 32 reads
#: run at once, each holding at most a message of bodies (1 MiB), the
#: driver's copy of them and the reply frame: 4 MiB at worst, 384 MiB in all
#: (measured +238 to +288 MiB; before, the same load overran the store's
#: request queue and timed out). Capping the page reads a node runs at once
#: lowers both; these bounds are what each read's own bound guarantees.
READ_GROWTH_BOUND = {"embedded": 160 << 20, "scylla": 400 << 20}

#: Frames up to twice the node's limit: the test reads whatever it is sent.
CLIENT_MAX_MESSAGE = 2 << 20


def name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def rss(pid: int) -> int:
    """The process's resident set in bytes, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(params=["embedded", "scylla"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def node(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Serving]:
    args = ["--port", "0", "--send-rate", "10000", "--send-burst", "10000"]
    if store_kind == "embedded":
        args += ["--store", str(tmp_path / "chat.db")]
    else:
        cluster: ScyllaCluster = request.getfixturevalue("scylla_cluster")
        points = request.getfixturevalue("cql_contact_points")
        hosts = ",".join(f"{host}:{port}" for host, port in points)
        # The session's keyspace has the schema already; a random node id keeps the rows apart.
        args += ["--cql", hosts, "--keyspace", cluster.keyspace, "--node-id", str(secrets.randbelow(1024))]
    async with serving(args, cwd=tmp_path) as running:
        yield running


async def read_pages(ws: WebSocketConnection, channel: int, seen: list[int]) -> None:
    """ROUNDS times: IN_FLIGHT syncs and histories sent at once, then every reply read."""
    for _ in range(ROUNDS):
        asked = set()
        for i in range(IN_FLIGHT):
            if i % 2:
                asked.add(await send_frame(ws, t="sync", channel=channel, after=i % MESSAGES, limit=500))
            else:
                before = MESSAGES + 1 - i % MESSAGES
                asked.add(await send_frame(ws, t="history", channel=channel, before=before, limit=500))
        while asked:
            frame = await next_frame(ws)
            if frame.get("id") in asked:
                assert frame["t"] == "ok", frame
                assert frame["messages"], "every page makes progress"
                seen.append(len(frame["messages"]))
                asked.remove(frame["id"])


async def test_many_concurrent_large_page_reads_keep_the_node_within_its_bound(node: Serving, store_kind: str) -> None:
    async with AsyncExitStack() as connections:
        writer = await connections.enter_async_context(open_websocket_url(node.url))
        await sign_up(writer, name("writer"))
        # Offline while the channel fills, so no `msg` event waits for them.
        tokens, members = [], []
        for _ in range(READERS):
            async with open_websocket_url(node.url) as ws:
                signed_up = await sign_up(ws, name("reader"))
            tokens.append(signed_up["token"])
            members.append(signed_up["user"])
        channel = (await call(writer, t="group", name="big bodies", members=members))["channel"]
        for seq in range(1, MESSAGES + 1):
            sent = await call(writer, t="send", channel=channel, body=BODY, cid=f"big-{seq}")
            assert (sent["t"], sent.get("seq")) == ("ok", seq), sent
        readers = []
        for token in tokens:
            ws = await connections.enter_async_context(
                open_websocket_url(node.url, max_message_size=CLIENT_MAX_MESSAGE)
            )
            assert (await call(ws, t="auth", token=token))["t"] == "ok"
            readers.append(ws)

        async with open_websocket_url(node.url) as carol, open_websocket_url(node.url) as dave:
            await sign_up(carol, name("carol"))
            dave_user = (await sign_up(dave, name("dave")))["user"]
            direct = (await call(carol, t="direct", user=dave_user))["channel"]

            before = rss(node.process.pid)
            peak = before
            pages: list[int] = []
            innocent: list[dict[str, Any]] = []

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, rss(node.process.pid))
                    await trio.sleep(0.02)

            async def talk() -> None:
                await trio.sleep(0.5)  # while the reads are under way
                request = await send_frame(carol, t="send", channel=direct, body="still here", cid=name("cid"))
                innocent.append(await reply_to(carol, request))
                while (frame := await next_frame(dave))["t"] != "msg":
                    pass
                innocent.append(frame)

            with trio.fail_after(300):  # a hang is a failure; not a speed bound
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sample)
                    async with trio.open_nursery() as load:
                        for ws in readers:
                            load.start_soon(read_pages, ws, channel, pages)
                        load.start_soon(talk)
                    nursery.cancel_scope.cancel()

    growth = peak - before
    print(f"node RSS {before / 2**20:.0f} MiB before the reads, peak {peak / 2**20:.0f} (+{growth / 2**20:.0f}) MiB")
    assert len(pages) == READERS * ROUNDS * IN_FLIGHT
    assert max(pages) <= 2, "a page of 400 KB bodies holds two: a message's worth"
    assert innocent[0]["t"] == "ok" and innocent[1]["body"] == "still here"
    assert growth <= READ_GROWTH_BOUND[store_kind], f"the node grew by {growth / 2**20:.0f} MiB"

