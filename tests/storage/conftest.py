"""The `store` fixture: every contract test runs once on each Store.

`open_store` is the building block: a factory that opens a store inside the
running `trio.run`, so that sync tests which run Trio once per hypothesis
example use the same stores as the async tests.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

import storage
from storage import EmbeddedStore, Store

OpenStore = Callable[[], AbstractAsyncContextManager[Store]]

# The Scylla store joins the suite as soon as the package exports it.
STORE_KINDS = ["embedded", *(["scylla"] if hasattr(storage, "ScyllaStore") else [])]


@pytest.fixture(params=STORE_KINDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    if request.param == "embedded":
        return _embedded_opener(tmp_path)
    return _scylla_opener(request.getfixturevalue("scylla_cluster"))


@pytest.fixture
async def store(open_store: OpenStore) -> AsyncIterator[Store]:
    async with open_store() as opened:
        yield opened


@pytest.fixture(scope="session")
def scylla_cluster(
    cql_contact_points: Sequence[tuple[str, int]],
) -> Iterator[storage.ScyllaCluster]:
    """One keyspace for the whole run; tests keep apart by using fresh ids."""
    keyspace = f"chat_test_{secrets.token_hex(6)}"
    cluster = storage.ScyllaCluster.connect(
        cql_contact_points, keyspace, replication_factor=1, create_schema=True
    )
    try:
        yield cluster
    finally:
        cluster.shutdown()
        _drop_keyspace(cql_contact_points, keyspace)


def _embedded_opener(directory: Path) -> OpenStore:
    files = itertools.count()

    @asynccontextmanager
    async def open_embedded() -> AsyncIterator[Store]:
        opened = await EmbeddedStore.open(directory / f"store-{next(files)}.db")
        try:
            yield opened
        finally:
            await opened.aclose()

    return open_embedded


def _scylla_opener(cluster: storage.ScyllaCluster) -> OpenStore:
    # The session fixture owns the cluster and shuts it down; each test gets
    # a cheap store on it, usable from whichever trio.run is current.
    @asynccontextmanager
    async def open_scylla() -> AsyncIterator[Store]:
        yield storage.ScyllaStore(cluster)

    return open_scylla


def _drop_keyspace(contact_points: Sequence[tuple[str, int]], keyspace: str) -> None:
    from cassandra.cluster import Cluster
    from cassandra.policies import DCAwareRoundRobinPolicy

    cluster = Cluster(
        list(contact_points),
        protocol_version=4,
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"),
    )
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    finally:
        cluster.shutdown()
