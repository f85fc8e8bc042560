"""EmbeddedStore: calls made while the worker thread is busy share its next hop."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from storage import EmbeddedStore

from .fresh import new_user


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
