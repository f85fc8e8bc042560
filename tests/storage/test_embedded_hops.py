"""EmbeddedStore: calls made while the worker thread is busy share its next hop."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from storage import EmbeddedStore
from storage._embedded import HOP_BYTES

from .fresh import append, message, new_id, new_user


async def test_calls_queued_behind_a_busy_thread_go_over_in_one_hop(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    try:
        users = [new_user() for _ in range(20)]
        for user in users:
            await store.create_user(user)
        hops: list[int] = []
        run_calls = store._run_calls  # white box: count the hand-overs
        store._run_calls = lambda batch: (hops.append(len(batch)), run_calls(batch))[1]  # type: ignore[method-assign]
        found: dict[int, object] = {}

        async def look_up(user_id: int) -> None:
            found[user_id] = await store.get_user(user_id)

        async with trio.open_nursery() as nursery:
            async with store._limiter:  # the thread is busy: calls queue up
                for user in users:
                    nursery.start_soon(look_up, user.user)
                await trio.testing.wait_all_tasks_blocked()
        assert found == {user.user: user for user in users}
        assert hops == [1, 19], "the first call's hop, then everything queued behind it"
    finally:
        await store.aclose()


async def test_a_call_cancelled_before_its_hop_never_runs(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    try:
        first, second = new_user(), new_user()
        async with trio.open_nursery() as nursery:
            async with store._limiter:
                nursery.start_soon(store.create_user, first)
                await trio.testing.wait_all_tasks_blocked()
                with trio.CancelScope() as waiting:
                    waiting.cancel()
                    with pytest.raises(trio.Cancelled):
                        await store.create_user(second)
        assert await store.get_user(first.user) == first
        assert await store.get_user(second.user) is None
    finally:
        await store.aclose()


async def test_a_hop_hands_its_results_back_once_their_bodies_weigh_hop_bytes(tmp_path: Path) -> None:
    """Page reads queued behind a busy thread go over in hops of about
    HOP_BYTES of bodies, never all at once: 32 of them at a WebSocket
    message each would otherwise be held together."""
    store = await EmbeddedStore.open(tmp_path / "chat.db")
    try:
        channel = new_id()
        lease = await store.take_lease(channel)
        large = "\U0001f600" * 100_000  # 400,000 bytes of UTF-8
        await append(store, lease, *(message(channel, seq, body=large) for seq in range(1, 4)))
        per_read = 3 * 400_000
        reads = 12
        hops: list[int] = []
        run_calls = store._run_calls

        def counted(batch: list[object]) -> int:
            done = run_calls(batch)  # type: ignore[arg-type]
            hops.append(done)
            return done

        store._run_calls = counted  # type: ignore[method-assign]
        pages: list[int] = []

        async def read() -> None:
            pages.append(len(await store.read_range(channel, 0, 3, 10, max_bytes=per_read)))

        async with trio.open_nursery() as nursery:
            async with store._limiter:
                for _ in range(reads):
                    nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
        assert pages == [3] * reads
        per_hop = -(-HOP_BYTES // per_read)
        assert per_hop < reads - 1
        full, rest = divmod(reads - 1, per_hop)
        assert rest, "the last hop is a short one"
        assert hops == [1, *[per_hop] * full, rest], "the first read alone, then hops of HOP_BYTES"
    finally:
        await store.aclose()
