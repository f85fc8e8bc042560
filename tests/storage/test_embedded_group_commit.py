"""Concurrent appends share a commit; each still succeeds or fails on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from storage import EmbeddedStore, Fenced

from .fresh import append, message, new_id


async def test_concurrent_appends_on_many_channels_are_all_stored(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    try:
        channels = [new_id() for _ in range(40)]
        leases = {channel: await store.take_lease(channel) for channel in channels}

        async def append_five(channel: int) -> None:
            for seq in range(1, 6):
                await append(store, leases[channel], message(channel, seq))

        async with trio.open_nursery() as nursery:
            for channel in channels:
                nursery.start_soon(append_five, channel)
        assert await store.last_seqs(channels) == {channel: 5 for channel in channels}
        for channel in channels:
            assert [m.seq for m in await store.read_range(channel, 0, 5, 10)] == [1, 2, 3, 4, 5]
    finally:
        await store.aclose()


async def test_a_fenced_append_fails_alone_in_its_batch(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    try:
        healthy, fenced = new_id(), new_id()
        good = await store.take_lease(healthy)
        stale = await store.take_lease(fenced)
        await store.take_lease(fenced)  # supersedes `stale`
        outcomes: dict[str, object] = {}

        async def attempt(name: str, lease, channel: int) -> None:  # type: ignore[no-untyped-def]
            try:
                await append(store, lease, message(channel, 1))
                outcomes[name] = "stored"
            except Fenced:
                outcomes[name] = "fenced"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempt, "healthy", good, healthy)
            nursery.start_soon(attempt, "stale", stale, fenced)
            nursery.start_soon(attempt, "healthy-too", good, healthy)
        assert outcomes == {"healthy": "stored", "stale": "fenced", "healthy-too": "stored"}
        assert await store.last_seqs([healthy, fenced]) == {healthy: 1, fenced: 0}
    finally:
        await store.aclose()


async def test_an_append_cancelled_before_its_commit_is_not_stored(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    try:
        first, second = new_id(), new_id()
        leases = {first: await store.take_lease(first), second: await store.take_lease(second)}
        async with trio.open_nursery() as nursery:
            # White box: holding the one worker slot keeps the first commit
            # in progress, so the second append must wait for the next one.
            async with store._limiter:
                nursery.start_soon(append, store, leases[first], message(first, 1))
                await trio.testing.wait_all_tasks_blocked()
                with trio.CancelScope() as waiting:
                    waiting.cancel()
                    with pytest.raises(trio.Cancelled):
                        await append(store, leases[second], message(second, 1))
        assert await store.last_seqs([first, second]) == {first: 1, second: 0}
    finally:
        await store.aclose()
