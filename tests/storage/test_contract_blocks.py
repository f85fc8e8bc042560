"""The Store contract for blocks: who blocks whom, read by point and by list."""

from __future__ import annotations

from storage import Store

from .fresh import new_id


async def test_a_block_is_listed_and_found_by_point_until_unblocked(store: Store) -> None:
    user, other, bystander = new_id(), new_id(), new_id()
    assert await store.blocked(user) == []
    assert await store.blockers(other, [user, bystander]) == set()

    await store.block(user, other)
    assert await store.blocked(user) == [other]
    assert await store.blockers(other, [user, bystander]) == {user}
    assert await store.blockers(user, [other]) == set(), "blocking is one way"

    await store.unblock(user, other)
    assert await store.blocked(user) == []
    assert await store.blockers(other, [user]) == set()


async def test_blocking_and_unblocking_again_change_nothing(store: Store) -> None:
    user, other = new_id(), new_id()
    await store.unblock(user, other)
    await store.block(user, other)
    await store.block(user, other)
    assert await store.blocked(user) == [other]
    await store.unblock(user, other)
    await store.unblock(user, other)
    assert await store.blocked(user) == []


async def test_blocked_users_are_ascending_and_blockers_only_those_asked(store: Store) -> None:
    user = new_id()
    others = [new_id() for _ in range(5)]
    for other in others:
        await store.block(user, other)
    assert await store.blocked(user) == sorted(others)

    victim = new_id()
    haters = [new_id() for _ in range(4)]
    for hater in haters:
        await store.block(hater, victim)
    asked = [*haters[:2], new_id(), user]
    assert await store.blockers(victim, iter(asked)) == set(haters[:2])
    assert await store.blockers(victim, []) == set()
