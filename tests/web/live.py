"""A real node in a thread of its own, for the tests that drive a browser.

Playwright's sync API runs in the test's thread (it has its own event loop,
in greenlets), so the node cannot share the test's Trio loop: it gets one
Trio loop in a thread, kept for the whole module, in which nodes start and
stop on demand. The test thread reaches that loop through
`trio.from_thread`, also to run the Python client library against the node
(to seed history, or to act as a user the browser is not).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import trio
from attrs import define, field

from actors import Node
from storage import EmbeddedStore

from ..node.conftest import node_config

T = TypeVar("T")


@define
class LiveNode:
    """Nodes on one embedded store, one at a time, on a port that stays the same across restarts."""

    store_path: Path
    config: dict[str, object]
    port: int = 0
    _token: trio.lowlevel.TrioToken | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _nursery: trio.Nursery | None = field(default=None, init=False)
    _closing: trio.Event | None = field(default=None, init=False)
    _node: Node | None = field(default=None, init=False)
    _down: trio.Event | None = field(default=None, init=False)

    # -- the loop's thread ------------------------------------------------

    def open(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._loop, ready), name="live-node", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the node's Trio loop did not start")

    def close(self) -> None:
        if self._node is not None:
            self.stop()
        self.run(self._close_loop)
        assert self._thread is not None
        self._thread.join(30)

    async def _loop(self, ready: threading.Event) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._closing = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            ready.set()
            await self._closing.wait()
            nursery.cancel_scope.cancel()

    async def _close_loop(self) -> None:
        assert self._closing is not None
        self._closing.set()

    def run(self, function: Callable[..., Awaitable[T]], *args: object) -> T:
        """Run an async function in the node's loop, from the test's thread."""
        return trio.from_thread.run(function, *args, trio_token=self._token)

    # -- nodes ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket URL (for the Python client library)."""
        return f"ws://127.0.0.1:{self.port}/v1"

    @property
    def origin(self) -> str:
        """Where the browser opens the web client."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, port: int | None = None) -> Node:
        """Start a node (on `port`, default the node's own); it keeps the first port it got."""
        node: Node = self.run(self._start, self.port if port is None else port)
        if self.port == 0:
            self.port = node.gateway.port
        return node

    def stop(self) -> None:
        """Drain the node (every device gets `bye`) and wait until its port and store are closed."""
        self.run(self._stop)

    async def _start(self, port: int) -> Node:
        assert self._nursery is not None
        self._down = trio.Event()
        self._node = await self._nursery.start(self._serve, port, self._down)
        return self._node

    async def _serve(self, port: int, down: trio.Event, *, task_status: trio.TaskStatus[Node]) -> None:
        store = await EmbeddedStore.open(self.store_path)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(await nursery.start(Node(node_config(port=port, **self.config), store).run))
        finally:
            await store.aclose()
            down.set()

    async def _stop(self) -> None:
        assert self._node is not None and self._down is not None
        await self._node.drain()
        await self._down.wait()
        self._node = None
