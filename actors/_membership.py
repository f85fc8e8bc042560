"""The node's membership row: refreshed while the node lives, expiring after.

This is the heartbeat of the book's service discovery: `chatnode status`
(and, later, the cluster's placement) reads the live nodes from the store.
A node that dies stops refreshing and disappears after `ttl` seconds; one
that stops cleanly removes its row at once. A row that cannot be written
(the store is down) is only news for the log: the node serves on, and the
next refresh writes it.
"""

from __future__ import annotations

import logging
import math

import trio

from storage import NodeRecord, Store, StoreError

log = logging.getLogger(__name__)


class Membership:
    def __init__(self, store: Store, record: NodeRecord, *, interval: float = 5.0, ttl: float = 15.0) -> None:
        if not ttl > 2 * interval:
            raise ValueError("ttl must exceed two refresh intervals, or one late refresh drops the node")
        self._store = store
        self._record = record
        self._interval = interval
        self._ttl = math.ceil(ttl)

    async def run(self, *, task_status: trio.TaskStatus[Membership] = trio.TASK_STATUS_IGNORED) -> None:
        # Tried once before `started`, so a node that is up is listed as soon
        # as the store allows; a start never fails for it.
        await self._register()
        task_status.started(self)
        try:
            while True:
                await trio.sleep(self._interval)
                await self._register()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await self._store.remove_node(self._record.node)
                except StoreError as exc:
                    log.warning("node %d: membership row left to expire: %s", self._record.node, exc)

    async def _register(self) -> None:
        try:
            await self._store.register_node(self._record, self._ttl)
        except StoreError as exc:
            # The row outlives a few missed refreshes; keep serving.
            log.warning("node %d: membership row not written: %s", self._record.node, exc)
