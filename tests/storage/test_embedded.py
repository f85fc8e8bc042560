"""What only the embedded store has: a file on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from protocol import NotifyLevel
from storage import EmbeddedStore, Notify, PushTarget, StoreError, Unavailable
from storage._embedded_schema import SCHEMA_VERSION

from .fresh import append, message, new_id, new_name, new_user


async def test_a_path_that_cannot_be_a_file_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(Unavailable):
        await EmbeddedStore.open(blocker / "chat.db")


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    path.write_bytes(b"certainly not SQLite " * 500)
    with pytest.raises(StoreError):
        await EmbeddedStore.open(path)


async def test_a_database_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    await (await EmbeddedStore.open(path)).aclose()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 999")
    db.close()
    with pytest.raises(StoreError, match="version 999"):
        await EmbeddedStore.open(path)


#: What takes a file of each schema version back to the one before.
_DOWNGRADES = {
    2: ["DROP TABLE blocks"],
    3: ["DROP TABLE notify_levels"]
    + [f"ALTER TABLE push_targets DROP COLUMN {column}" for column in ("registered", "preview", "preview_key")],
}


def as_release(path: Path, version: int) -> None:
    """Make a file of this schema into one as the release of schema `version` left it."""
    with sqlite3.connect(path) as db:
        for undone in range(SCHEMA_VERSION, version, -1):
            for statement in _DOWNGRADES[undone]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
    db.close()


async def test_a_database_of_the_first_schema_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    user = new_user()
    store = await EmbeddedStore.open(path)
    await store.create_user(user)
    await store.aclose()
    as_release(path, 1)
    store = await EmbeddedStore.open(path)
    try:
        assert await store.get_user(user.user) == user
        other = new_id()
        await store.block(user.user, other)
        assert await store.blocked(user.user) == [other]
    finally:
        await store.aclose()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    db.close()


async def test_a_database_of_the_second_schema_gets_registration_times_and_notify_levels(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = await EmbeddedStore.open(path)
    await store.aclose()
    user, device, channel = new_id(), new_id(), new_id()
    as_release(path, 2)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO push_targets (user, device, kind, endpoint, fields) VALUES (?, ?, 'fcm', 'token', '[]')",
            (user, device),
        )
    db.close()
    store = await EmbeddedStore.open(path)
    try:
        assert await store.push_targets(user) == {device: PushTarget("fcm", "token", (), 0)}
        await store.set_notify(user, channel, Notify(NotifyLevel.NONE))
        assert await store.notify_levels(user) == {channel: Notify(NotifyLevel.NONE)}
    finally:
        await store.aclose()


async def test_a_file_locked_by_another_process_is_unavailable_until_released(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    store = await EmbeddedStore.open(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable, match="locked"):
            await store.create_user(new_user())
        other.execute("ROLLBACK")
        user = new_user()
        await store.create_user(user)
        assert await store.get_user(user.user) == user
    finally:
        other.close()
        await store.aclose()


async def test_everything_survives_reopening_and_fencing_continues(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    user, channel = new_user(), new_id()
    store = await EmbeddedStore.open(path)
    await store.create_user(user)
    old_lease = await store.take_lease(channel)
    first = message(channel, 1)
    await append(store, old_lease, first)
    await store.aclose()

    store = await EmbeddedStore.open(path)
    try:
        assert await store.get_user(user.user) == user
        lease = await store.take_lease(channel)
        assert lease.last == 1
        assert lease.epoch > old_lease.epoch
        assert await store.read_range(channel, 0, 10, 10) == [first]
    finally:
        await store.aclose()


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.user_by_name(new_name("user"))


async def test_missing_directories_are_created(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "var" / "nested" / "chat.db")
    await store.aclose()
    assert (tmp_path / "var" / "nested" / "chat.db").is_file()
