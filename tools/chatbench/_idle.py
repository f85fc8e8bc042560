"""idle: authenticated devices that do nothing but ping; what each one costs the node.

Memory per device is the growth of the server's resident set while the
devices connect, divided by their number, read after they have pinged for a
while (steady state). A few `warm` devices connect first and are not
counted, so one-time costs (the first session's imports, caches, pools) do
not land on the per-device figure. CPU is the server's use over a window of
heartbeats. The baseline holds the same number of bare connections that
ping the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

import trio
from attrs import frozen

from ._fleet import Control
from ._links import Link, LinkStats, echo_link, node_link, open_all

CONNECT_CONCURRENCY = 32  # per worker: set-up, not a storm


@frozen
class IdleResult:
    connected: int
    lost: int
    retried: int


@frozen
class IdleJob:
    url: str
    on_node: bool
    tokens: tuple[str, ...]  # the node's devices (warm ones first); empty for the baseline
    warm: int
    devices: int
    heartbeat: float

    async def run(self, ctl: Control) -> IdleResult:
        stats = LinkStats()
        rng = random.Random(ctl.worker)
        openers: list[Callable[[], AbstractAsyncContextManager[Link]]]
        if self.on_node:
            openers = [partial(node_link, self.url, token) for token in self.tokens]
        else:
            openers = [partial(echo_link, f"{self.url}/echo") for _ in range(self.warm + self.devices)]

        release = trio.Event()
        async with trio.open_nursery() as held:
            await open_all(
                held, openers[: self.warm], concurrency=CONNECT_CONCURRENCY, heartbeat=self.heartbeat,
                rng=rng, stats=stats, release=release,
            )  # fmt: skip
            ctl.report("warm")
            await ctl.proceed()
            links = await open_all(
                held, openers[self.warm :], concurrency=CONNECT_CONCURRENCY, heartbeat=self.heartbeat,
                rng=rng, stats=stats, release=release, opened=ctl.progress,
            )  # fmt: skip
            ctl.report("ready")
            await ctl.proceed()
            release.set()
        return IdleResult(connected=len(links), lost=stats.lost, retried=stats.retried)
