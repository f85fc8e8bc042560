"""The Store contract for what push is decided from: targets, notify levels, unread counts."""

from __future__ import annotations

from protocol import ChannelKind, NotifyLevel
from storage import Channel, Notify, PushTarget, Store, Unread

from .fresh import NOW, append, message, new_id

WEB = PushTarget("webpush", "https://push.example/v1/abc", (("auth", "k1"), ("p256dh", "k2")), NOW)

# -- push targets -------------------------------------------------------------------


async def test_push_targets_are_set_replaced_and_removed_per_device(store: Store) -> None:
    user, phone, laptop = new_id(), new_id(), new_id()
    apns = PushTarget("apns", "apns-device-token", (("sandbox", "true"),), NOW + 1)
    fcm = PushTarget("fcm", "fcm-registration-id", (), NOW + 2)

    await store.set_push_target(user, laptop, WEB)
    assert await store.push_targets(user) == {laptop: WEB}
    await store.set_push_target(user, phone, apns)
    assert await store.push_targets(user) == {laptop: WEB, phone: apns}
    await store.set_push_target(user, phone, fcm)
    assert await store.push_targets(user) == {laptop: WEB, phone: fcm}
    await store.remove_push_target(user, laptop, NOW + 3)
    assert await store.push_targets(user) == {phone: fcm}
    await store.remove_push_target(user, laptop, NOW + 4)
    assert await store.push_targets(user) == {phone: fcm}
    assert await store.push_targets(new_id()) == {}


async def test_a_dead_target_is_removed_by_its_registration_time(store: Store) -> None:
    user, device, other = new_id(), new_id(), new_id()
    await store.set_push_target(user, device, WEB)
    await store.set_push_target(user, other, WEB)
    await store.remove_push_target(user, device, WEB.registered)
    assert await store.push_targets(user) == {other: WEB}, "only that device's target goes"


async def test_a_target_registered_again_survives_the_removal_of_the_dead_one(store: Store) -> None:
    user, device = new_id(), new_id()
    again = PushTarget("webpush", "https://push.example/v1/new", (("auth", "k3"), ("p256dh", "k4")), NOW + 5_000)
    await store.set_push_target(user, device, WEB)
    # The device registers anew while the provider's "gone" for the old
    # target is on its way; the removal comes after, naming the old one.
    await store.set_push_target(user, device, again)
    await store.remove_push_target(user, device, WEB.registered)
    assert await store.push_targets(user) == {device: again}


async def test_preview_wishes_and_keys_are_kept_and_replaced_with_the_target(store: Store) -> None:
    user, device = new_id(), new_id()
    keyed = PushTarget("fcm", "token", (), NOW, preview=True, preview_key=bytes(range(32)))
    await store.set_push_target(user, device, keyed)
    assert await store.push_targets(user) == {device: keyed}
    plain = PushTarget("fcm", "token", (), NOW + 1)
    await store.set_push_target(user, device, plain)
    assert await store.push_targets(user) == {device: plain}, "a new registration without a key has none"


# -- notify levels ------------------------------------------------------------------


async def test_notify_levels_are_set_replaced_and_cleared_per_channel(store: Store) -> None:
    user, muted, quiet = new_id(), new_id(), new_id()
    assert await store.notify_levels(user) == {}
    await store.set_notify(user, muted, Notify(NotifyLevel.NONE, until=NOW + 60_000))
    await store.set_notify(user, quiet, Notify(NotifyLevel.MENTIONS))
    assert await store.notify_levels(user) == {
        muted: Notify(NotifyLevel.NONE, NOW + 60_000),
        quiet: Notify(NotifyLevel.MENTIONS),
    }
    # A level set for good after one with an until holds no until.
    await store.set_notify(user, muted, Notify(NotifyLevel.NONE))
    await store.set_notify(user, quiet, None)
    assert await store.notify_levels(user) == {muted: Notify(NotifyLevel.NONE)}
    assert await store.notify_levels(new_id()) == {}


def test_a_level_holds_until_its_until_then_all_again() -> None:
    notify = Notify(NotifyLevel.NONE, until=NOW)
    assert notify.level_at(NOW - 1) is NotifyLevel.NONE
    assert notify.level_at(NOW) is NotifyLevel.ALL
    assert Notify(NotifyLevel.MENTIONS).level_at(2**62) is NotifyLevel.MENTIONS


# -- unread counts ------------------------------------------------------------------


async def test_unread_is_each_channels_last_and_the_users_marker(store: Store) -> None:
    user, other = new_id(), new_id()
    busy, quiet, empty, foreign = new_id(), new_id(), new_id(), new_id()
    for channel, members in ((busy, {user, other}), (quiet, {user}), (empty, {user}), (foreign, {other})):
        await store.create_group(Channel(channel, ChannelKind.GROUP, "g", NOW, members))
    for channel, count in ((busy, 5), (quiet, 2), (foreign, 3)):
        lease = await store.take_lease(channel)
        await append(store, lease, *(message(channel, seq) for seq in range(1, count + 1)))
    await store.advance_read_marker(user, busy, 3)
    await store.advance_read_marker(user, quiet, 2)

    unread = await store.unread(user)
    assert unread == {busy: Unread(5, 3), quiet: Unread(2, 2), empty: Unread(0, 0)}
    assert sum(entry.count for entry in unread.values()) == 2
    assert (await store.unread(other))[busy] == Unread(5, 0)


async def test_a_channel_left_no_longer_counts(store: Store) -> None:
    user, kept, left = new_id(), new_id(), new_id()
    for channel in (kept, left):
        await store.create_group(Channel(channel, ChannelKind.GROUP, "g", NOW, {user, new_id()}))
        lease = await store.take_lease(channel)
        await append(store, lease, message(channel, 1))
    await store.remove_member(left, user)
    assert await store.unread(user) == {kept: Unread(1, 0)}
    assert await store.unread(new_id()) == {}
