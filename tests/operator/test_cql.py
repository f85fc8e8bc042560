"""`schema`, `serve` and `status` on a CQL cluster (the test Cassandra), each test in a keyspace of its own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio

from client import ChatClient, PasswordAuth, register
from storage import ScyllaCluster

from ..node.people import PASSWORD
from .chatnode import assert_one_line_error, assert_status, run, serving, wall_clock_ms

Points = Sequence[tuple[str, int]]


@pytest.fixture
def keyspace(cql_contact_points: Points) -> Iterator[str]:
    """A keyspace name no one has used; dropped afterwards if a test created it."""
    name = f"chat_op_{secrets.token_hex(6)}"
    yield name
    cluster = ScyllaCluster.connect(cql_contact_points, name)
    try:
        cluster.session.execute(f"DROP KEYSPACE IF EXISTS {name}")
    finally:
        cluster.shutdown()


def cql_args(points: Points, keyspace: str) -> list[str]:
    hosts = ",".join(f"{host}:{port}" for host, port in points)
    return ["--cql", hosts, "--keyspace", keyspace, "--replication-factor", "1"]


def described(points: Points, keyspace: str) -> str:
    """How chatnode names this store (StoreConfig.describe with the default consistency)."""
    hosts = ",".join(f"{host}:{port}" for host, port in points)
    return f"cql {hosts} keyspace {keyspace} (LOCAL_QUORUM)"


def replication(points: Points, keyspace: str) -> dict[str, str] | None:
    """The keyspace's replication, None if it does not exist; and every statement must prepare.

    ScyllaCluster prepares each statement of the store when the keyspace
    exists, so a table missing from the schema fails here.
    """
    cluster = ScyllaCluster.connect(points, keyspace)
    try:
        row = cluster.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
        ).one()
        if row is None:
            return None
        assert cluster.statements is not None
        return dict(row[0])
    finally:
        cluster.shutdown()


async def test_schema_is_idempotent_and_serve_runs_on_it(
    cql_contact_points: Points, keyspace: str, tmp_path: Path
) -> None:
    args = cql_args(cql_contact_points, keyspace)
    for _ in range(2):
        done = await run("schema", *args, cwd=tmp_path)
        assert done.status == 0, done.stderr
        assert done.stdout == f"chatnode: schema ready in {described(cql_contact_points, keyspace)}\n"
    settings = await trio.to_thread.run_sync(replication, cql_contact_points, keyspace)
    assert settings is not None and settings["datacenter1"] == "1"

    node_id = secrets.randbelow(1024)
    async with serving(["--port", "0", "--node-id", str(node_id), *args], cwd=tmp_path) as node:
        assert (node.node, node.store) == (node_id, described(cql_contact_points, keyspace))
        bob = await register(node.url, "bob", PASSWORD)
        await register(node.url, "alice", PASSWORD)
        async with ChatClient.connect(node.url, PasswordAuth("alice", PASSWORD, "laptop")) as alice:
            channel = await alice.direct(bob)
            sent = await alice.send(channel, "stored in Cassandra")
            page = await alice.sync(channel, 0)
        assert sent.seq == 1
        assert [m.body for m in page.messages] == ["stored in Cassandra"]

        assert await node.stop() == 0


async def test_status_lists_the_live_nodes(cql_contact_points: Points, keyspace: str, tmp_path: Path) -> None:
    args = cql_args(cql_contact_points, keyspace)
    store = described(cql_contact_points, keyspace)
    first, second = sorted(secrets.SystemRandom().sample(range(1024), 2))
    started_after = wall_clock_ms()
    async with (
        serving(["--port", "0", "--node-id", str(second), *args], cwd=tmp_path) as b,
        serving(["--port", "0", "--node-id", str(first), *args], cwd=tmp_path) as a,
    ):
        assert_status(await run("status", *args, cwd=tmp_path), store, [a, b], started_after=started_after)
        # A node that stops cleanly takes its row with it; the other stays.
        assert await a.stop() == 0
        assert_status(await run("status", *args, cwd=tmp_path), store, [b], started_after=started_after)


async def test_status_of_a_missing_keyspace_is_an_error_and_creates_nothing(
    cql_contact_points: Points, keyspace: str, tmp_path: Path
) -> None:
    done = await run("status", *cql_args(cql_contact_points, keyspace), cwd=tmp_path)
    assert done.status == 2
    assert_one_line_error(done.stderr)
    assert keyspace in done.stderr
    assert await trio.to_thread.run_sync(replication, cql_contact_points, keyspace) is None
