"""The presence cache: latest state per user, bounded by least recent use."""

from __future__ import annotations

from client import UserPresence
from client._presence import PresenceCache


def test_the_latest_update_wins() -> None:
    cache = PresenceCache(4)
    cache.update([UserPresence(1, True, 10)])
    cache.update([UserPresence(1, False, 20)])
    assert cache.get(1) == UserPresence(1, False, 20)
    assert cache.get(2) is None


def test_the_least_recently_used_user_is_evicted() -> None:
    cache = PresenceCache(2)
    cache.update([UserPresence(1, True, 0), UserPresence(2, True, 0)])
    assert cache.get(1) is not None  # 1 is now more recent than 2
    cache.update([UserPresence(3, True, 0)])
    assert cache.users() == (1, 3)
    assert len(cache) == 2
