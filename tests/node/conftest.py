"""A real node on a real socket, on each store: the fixtures of the node suite."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from actors import Node, NodeConfig
from protocol import Limits

from ..conftest import OpenStore


def node_config(**overrides: object) -> NodeConfig:
    """Port 0, and a random node id: nodes of different tests share one keyspace."""
    settings: dict[str, object] = {"port": 0, "node_id": secrets.randbelow(1024)}
    settings.update(overrides)
    return NodeConfig(**settings)  # type: ignore[arg-type]


@asynccontextmanager
async def running_node(open_store: OpenStore, **config: object) -> AsyncIterator[Node]:
    """A node of its own config for one test, drained on exit."""
    async with open_store() as store, trio.open_nursery() as nursery:
        node = await nursery.start(Node(node_config(**config), store).run)
        yield node
        await node.drain()


@pytest.fixture
def limits() -> Limits:
    """The limits the `node` fixture runs with; a test module may override this."""
    return Limits()


@pytest.fixture
async def node(open_store: OpenStore, limits: Limits, nursery: trio.Nursery) -> AsyncIterator[Node]:
    async with open_store() as store:
        running = await nursery.start(Node(node_config(limits=limits), store).run)
        yield running
        await running.drain()
