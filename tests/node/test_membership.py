"""A running node keeps its membership row; a cleanly stopped one removes it."""

from __future__ import annotations

import trio

from actors import Node

from ..conftest import OpenStore
from .conftest import node_config


async def test_node_row_lives_with_the_node(open_store: OpenStore) -> None:
    async with open_store() as store:
        config = node_config()
        async with trio.open_nursery() as nursery:
            node = await nursery.start(Node(config, store).run)
            rows = {row.node: row for row in await store.live_nodes()}
            assert rows[config.node_id].address == f"127.0.0.1:{node.gateway.port}"
            await node.drain()
        assert config.node_id not in {row.node for row in await store.live_nodes()}
