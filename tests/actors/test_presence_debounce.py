"""Presence debounce, decided without an event loop: times are plain numbers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors._presence import PresenceChange, PresenceDebounce

GRACE = 30_000


def test_first_device_publishes_online_once() -> None:
    presence = PresenceDebounce(GRACE)
    assert presence.attached(1_000) == PresenceChange(online=True, last=1_000)
    assert presence.attached(2_000) is None, "a second device changes nothing others see"


def test_last_device_gone_publishes_offline_after_the_grace() -> None:
    presence = PresenceDebounce(GRACE)
    presence.attached(1_000)
    presence.detached(5_000)
    assert presence.online, "still online during the grace"
    assert presence.offline_deadline == 5_000 + GRACE
    assert presence.expire(5_000 + GRACE - 1) is None, "too early"
    assert presence.expire(5_000 + GRACE) == PresenceChange(online=False, last=5_000)
    assert not presence.online and presence.settled


def test_reconnect_within_grace_produces_no_events() -> None:
    presence = PresenceDebounce(GRACE)
    presence.attached(1_000)
    presence.detached(2_000)
    assert presence.attached(2_000 + GRACE - 1) is None
    assert presence.offline_deadline is None
    assert presence.expire(2_000 + GRACE) is None, "a stale timer must not publish offline"


def test_one_of_two_devices_leaving_keeps_the_user_online() -> None:
    presence = PresenceDebounce(GRACE)
    presence.attached(1_000)
    presence.attached(1_100)
    presence.detached(2_000)
    assert presence.offline_deadline is None
    assert presence.expire(10 * GRACE) is None


def test_activity_moves_last_active_forward_only() -> None:
    presence = PresenceDebounce(GRACE)
    presence.attached(1_000)
    presence.active(9_000)
    presence.active(4_000)
    assert presence.last_active == 9_000


@given(st.lists(st.tuples(st.sampled_from(["attach", "detach", "expire"]), st.integers(0, 3 * GRACE)), max_size=40))
def test_events_alternate_and_follow_the_device_count(steps: list[tuple[str, int]]) -> None:
    """Published states alternate online/offline; offline only with no device left."""
    presence = PresenceDebounce(GRACE)
    now, devices, published = 0, 0, []
    for action, delay in steps:
        now += delay
        if action == "attach":
            devices += 1
            change = presence.attached(now)
        elif action == "detach":
            if devices:
                devices -= 1
            presence.detached(now)
            change = None
        else:
            change = presence.expire(now)
        if change is not None:
            published.append(change.online)
            if not change.online:
                assert devices == 0
        assert presence.online == (published[-1] if published else False)
        if devices:
            assert presence.online
    assert all(a != b for a, b in zip(published, published[1:])), published
