"""Device activity, written behind: many devices per store call.

`auth` and the end of a session record when a device was last active.
Neither waits for the write: in a reconnect storm thousands of devices would
each wait for a transaction of their own (an fsync on the embedded store)
for a value that only feeds "last seen". Recorded activity is written in
batches, each as soon as the one before it is stored. A crash loses at most
what was not written yet: a stale "last seen", never a message.
"""

from __future__ import annotations

import itertools
import logging

import trio

from storage import Activity, Store, StoreError

log = logging.getLogger(__name__)

#: Devices per store call; more wait for the next one.
BATCH = 1000

#: Seconds a stopping node spends writing what is recorded.
FINAL_WRITE_TIMEOUT = 2.0

#: Seconds between attempts while the store refuses the writes.
RETRY_AFTER = 5.0


class ActivityLog:
    def __init__(self, store: Store, *, retry_after: float = RETRY_AFTER) -> None:
        self._store = store
        self._retry_after = retry_after
        # The latest time per (user, device) not written yet: one entry per
        # device however often it is seen, so the log is bounded by devices.
        self._pending: dict[tuple[int, int], int] = {}
        self._recorded = trio.Event()

    def record(self, user: int, device: int, when: int) -> None:
        key = (user, device)
        if when > self._pending.get(key, when - 1):
            self._pending[key] = when
        self._recorded.set()

    async def run(self, *, task_status: trio.TaskStatus[ActivityLog] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(self)
        try:
            while True:
                await self._recorded.wait()
                self._recorded = trio.Event()
                if not await self._write():
                    await trio.sleep(self._retry_after)
                    self._recorded.set()  # what is kept is news enough
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(FINAL_WRITE_TIMEOUT):
                await self._write()

    async def _write(self) -> bool:
        """Write what is recorded; an entry leaves only once it is stored.

        False when the store refused: what is recorded is kept for the retry.
        """
        while self._pending:
            batch = [
                Activity(user, device, when)
                for (user, device), when in itertools.islice(self._pending.items(), BATCH)
            ]
            try:
                await self._store.touch_devices(batch)
            except StoreError as exc:
                log.warning("last activity of %d devices not stored yet: %s", len(batch), exc)
                return False
            for written in batch:
                key = (written.user, written.device)
                if self._pending.get(key) == written.when:
                    del self._pending[key]
        return True
