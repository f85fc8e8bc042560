"""Reaching the cluster, and losing it: every failure is a Store error with
one line to show an operator, never a driver exception."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from functools import partial

import pytest
import trio

from storage import ScyllaCluster, ScyllaStore, StoreError, Unavailable

from .fresh import new_id


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound by nobody listening: connections are refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


async def test_a_cluster_that_is_down_is_unavailable(closed_port: int) -> None:
    with pytest.raises(Unavailable) as failure:
        await ScyllaStore.open([("127.0.0.1", closed_port)], "chat", connect_timeout=2.0)
    line = str(failure.value)
    assert "\n" not in line
    assert f"127.0.0.1:{closed_port}" in line


def test_a_failed_connect_stops_the_driver_threads(closed_port: int) -> None:
    # In a fresh interpreter, so that only this connect's threads can exist.
    script = textwrap.dedent(
        f"""
        import threading
        from storage import ScyllaCluster, Unavailable
        try:
            ScyllaCluster.connect([("127.0.0.1", {closed_port})], "chat", connect_timeout=2.0)
        except Unavailable as error:
            print(error)
        print(sorted(thread.name for thread in threading.enumerate()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    refused, threads = done.stdout.splitlines()
    assert refused.startswith("cannot use the CQL cluster at 127.0.0.1:")
    assert threads == "['MainThread']"


async def test_a_missing_keyspace_names_the_command_that_creates_it(
    cql_contact_points: list[tuple[str, int]],
) -> None:
    keyspace = f"chat_missing_{new_id() % 10**9}"
    cluster = await trio.to_thread.run_sync(
        lambda: ScyllaCluster.connect(cql_contact_points, keyspace)
    )
    try:
        with pytest.raises(StoreError, match="chatnode schema") as failure:
            await ScyllaStore(cluster).get_user(1)
        assert not isinstance(failure.value, Unavailable)  # retrying will not help
    finally:
        await trio.to_thread.run_sync(cluster.shutdown)


async def test_losing_the_cluster_mid_run_is_unavailable(
    scylla_cluster: ScyllaCluster, cql_contact_points: list[tuple[str, int]]
) -> None:
    # The store reaches the database through a TCP relay that the test then
    # takes away: every connection drops and nothing answers any more.
    (host, port), *_ = cql_contact_points

    async def relay(client: trio.SocketStream) -> None:
        async with client, await trio.open_tcp_stream(host, port) as server:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_pump, client, server)
                nursery.start_soon(_pump, server, client)

    cluster: ScyllaCluster | None = None
    try:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, relay, 0, host="127.0.0.1"))
            relay_port = listeners[0].socket.getsockname()[1]
            cluster = await trio.to_thread.run_sync(
                lambda: ScyllaCluster.connect(
                    [("127.0.0.1", relay_port)], scylla_cluster.keyspace, connect_timeout=2.0
                )
            )
            store = ScyllaStore(cluster)
            assert await store.get_user(new_id()) is None
            nursery.cancel_scope.cancel()  # relay and listener gone, connections reset
        with pytest.raises(Unavailable):
            await store.get_user(new_id())
        with pytest.raises(Unavailable):
            await store.take_lease(new_id())
    finally:
        if cluster is not None:
            await trio.to_thread.run_sync(cluster.shutdown)


async def _pump(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    while data := await source.receive_some(65536):
        await sink.send_all(data)
