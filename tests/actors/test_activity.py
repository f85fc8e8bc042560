"""ActivityLog: device activity written behind, in batches, on a real store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import trio

from actors._activity import BATCH, ActivityLog
from storage import Device, EmbeddedStore, Store, new_token, token_hash

from ..storage.fresh import NOW, new_id


async def add_devices(store: Store, count: int) -> list[Device]:
    user = new_id()
    devices = [Device(user, new_id(), "phone", NOW, NOW) for _ in range(count)]
    for device in devices:
        await store.add_device(device, token_hash(new_token()))
    return devices


async def test_recorded_activity_is_stored_latest_time_first(store: Store) -> None:
    devices = await add_devices(store, BATCH + 5)  # more than one store call
    log = ActivityLog(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        for i, device in enumerate(devices):
            log.record(device.user, device.device, NOW + 10 + i)
            log.record(device.user, device.device, NOW + 1)  # late news: ignored
        with trio.fail_after(30):
            # Until every device is written (a store call in flight on the
            # driver's thread does not keep Trio's tasks from looking blocked).
            while NOW in {d.last_active for d in await store.devices(devices[0].user)}:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    stored = {d.device: d.last_active for d in await store.devices(devices[0].user)}
    assert stored == {d.device: NOW + 10 + i for i, d in enumerate(devices)}
    assert await store.last_active([devices[0].user]) == {devices[0].user: NOW + 10 + BATCH + 4}


async def test_what_is_recorded_when_the_node_stops_is_written_on_the_way_out(store: Store) -> None:
    [device] = await add_devices(store, 1)
    log = ActivityLog(store)
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        log.record(device.user, device.device, NOW + 7)
        nursery.cancel_scope.cancel()  # before the log's task ran again
    assert [d.last_active for d in await store.devices(device.user)] == [NOW + 7]


async def test_activity_the_store_refused_is_written_once_it_accepts(tmp_path: Path) -> None:
    """Another process holds the database's write lock for a while: the log
    keeps what it recorded and writes it after the lock is gone, with no
    further activity to prompt it."""
    path = tmp_path / "chat.db"
    store = await EmbeddedStore.open(path, busy_timeout=0.05)
    try:
        [device] = await add_devices(store, 1)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock, as a backup tool would hold it
        log = ActivityLog(store, retry_after=0.05)
        async with trio.open_nursery() as nursery:
            await nursery.start(log.run)
            log.record(device.user, device.device, NOW + 3)
            await trio.sleep(0.3)  # refused at least once meanwhile
            assert [d.last_active for d in await store.devices(device.user)] == [NOW]
            other.execute("ROLLBACK")
            other.close()
            with trio.fail_after(10):
                while [d.last_active for d in await store.devices(device.user)] != [NOW + 3]:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    finally:
        await store.aclose()
