"""Fixtures every suite shares: the CQL database, and a store of each kind.

`open_store` is the building block: a factory that opens a store inside the
running `trio.run`, so that sync tests which run Trio once per hypothesis
example use the same stores as the async tests. Every test that takes it
runs once on each store.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

import storage
from storage import EmbeddedStore, Store
from tools.localcassandra import LocalCassandra, contact_points_from_env


@pytest.fixture(scope="session")
def cql_contact_points(pytestconfig: pytest.Config) -> Iterator[list[tuple[str, int]]]:
    """(host, port) of the cluster named by CHAT_TEST_CQL, or of a Cassandra started here.

    `make test` (bin/testdb) sets CHAT_TEST_CQL; without it a plain `pytest`
    starts its own node for the session, so a test that needs the database
    always gets one or errors, never skips.
    """
    existing = contact_points_from_env()
    if existing is not None:
        yield existing
        return
    with LocalCassandra(report=_terminal_line(pytestconfig)) as database:
        yield [database.contact_point]


def _terminal_line(config: pytest.Config) -> Callable[[str], None]:
    """Write past output capture: start-up time and download progress belong on screen."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    terminal = config.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled():
            terminal.write_line(line)

    return write


OpenStore = Callable[[], AbstractAsyncContextManager[Store]]

@pytest.fixture(params=["embedded", "scylla"])
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
        try:
            cluster.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        finally:
            cluster.shutdown()


def _embedded_opener(directory: Path) -> OpenStore:
    files = itertools.count()
    return _opener(lambda: EmbeddedStore.open(directory / f"store-{next(files)}.db"))


def _scylla_opener(cluster: storage.ScyllaCluster) -> OpenStore:
    # A store wrapping a cluster does not own it: its aclose leaves the
    # session's cluster running for the next test (and the next trio.run).
    async def wrap() -> Store:
        return storage.ScyllaStore(cluster)

    return _opener(wrap)


def _opener(make: Callable[[], Awaitable[Store]]) -> OpenStore:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[Store]:
        opened = await make()
        try:
            yield opened
        finally:
            await opened.aclose()

    return open_store
