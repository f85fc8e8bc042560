"""A real node on a real socket, on each store: the fixtures of the node suite."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from actors import AccountPolicy, Node, NodeConfig, Rule, ThrottleRules
from protocol import Limits
from storage import ScryptCost

from ..conftest import OpenStore


_UNTHROTTLED = Rule(rate=1e6, burst=1_000_000)

#: The node suite's accounts: no throttles or KDF queue limits, and the
#: scrypt cost the suite was written at (ln=14, a quarter of the default's
#: time). Its tests sign up hundreds of users from one address, many at
#: once, and are not about either; test_abuse_accounts.py runs the defaults.
SUITE_ACCOUNTS = AccountPolicy(
    throttles=ThrottleRules(
        login_per_peer=_UNTHROTTLED, login_per_username=_UNTHROTTLED, register_per_peer=_UNTHROTTLED
    ),
    password_cost=ScryptCost(log2_n=14),
    login_queue=1_000_000,
    register_queue=1_000_000,
)


def node_config(**overrides: object) -> NodeConfig:
    """Port 0, a random node id (nodes of different tests share one keyspace),
    and the suite's account policy."""
    settings: dict[str, object] = {"port": 0, "node_id": secrets.randbelow(1024), "accounts": SUITE_ACCOUNTS}
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
