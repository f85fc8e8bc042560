"""A TCP hop between a node's CQL driver and the real cluster, which a test breaks and mends.

Nothing here imitates the store: every byte goes to the real Cassandra and
back. Breaking the hop is what a store outage looks like from the node (its
connections reset, new ones refused at once), without stopping a JVM that
other tests share. Mending it lets the driver's own reconnection find the
cluster again.
"""

from __future__ import annotations

import trio
from attrs import define, field


@define(eq=False)
class Breaker:
    target: tuple[str, int]
    port: int = 0
    broken: bool = False
    _links: set[trio.CancelScope] = field(factory=set)

    async def run(self, *, task_status: trio.TaskStatus[Breaker] = trio.TASK_STATUS_IGNORED) -> None:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listener.socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            await trio.serve_listeners(self._link, [listener], handler_nursery=nursery)

    def break_(self) -> None:
        """Cut every connection now and refuse new ones until `mend`."""
        self.broken = True
        for scope in self._links:
            scope.cancel()

    def mend(self) -> None:
        self.broken = False

    async def _link(self, client: trio.SocketStream) -> None:
        async with client:
            if self.broken:
                return
            try:
                upstream = await trio.open_tcp_stream(*self.target)
            except OSError:
                return
            with trio.CancelScope() as link:
                self._links.add(link)
                try:
                    async with upstream, trio.open_nursery() as nursery:
                        nursery.start_soon(_pump, client, upstream, link)
                        nursery.start_soon(_pump, upstream, client, link)
                finally:
                    self._links.discard(link)


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, link: trio.CancelScope) -> None:
    try:
        async for chunk in source:
            await sink.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    link.cancel()  # one direction ended: the link is over
