"""The Store contract for accounts, devices, channels, markers and nodes.

Runs on every store (see conftest.py). Push targets, notify levels and
unread counts are in test_contract_push.py, messages and fencing in
test_contract_messages.py, the model-based check in test_contract_model.py.
"""

from __future__ import annotations

import random

import pytest
import trio

from protocol import ChannelKind
from storage import (
    Activity,
    Channel,
    Device,
    NodeRecord,
    PushTarget,
    Store,
    User,
    UsernameTaken,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)

from .fresh import NOW, new_id, new_name, new_user

# -- accounts ---------------------------------------------------------------------


async def test_user_is_found_by_name_and_by_id(store: Store) -> None:
    user = new_user()
    await store.create_user(user)
    assert await store.user_by_name(user.username) == user
    assert await store.get_user(user.user) == user


async def test_unknown_user_is_none(store: Store) -> None:
    assert await store.user_by_name(new_name("nobody")) is None
    assert await store.get_user(new_id()) is None


async def test_taken_username_is_refused_and_the_first_account_kept(store: Store) -> None:
    first = new_user()
    await store.create_user(first)
    second = new_user(first.username)
    with pytest.raises(UsernameTaken):
        await store.create_user(second)
    assert await store.user_by_name(first.username) == first
    assert await store.get_user(second.user) is None


async def test_password_is_kept_as_a_scrypt_hash(store: Store) -> None:
    password = "correct horse battery staple"
    hashed = await trio.to_thread.run_sync(hash_password, password)
    user = User(new_id(), new_name("user"), hashed, NOW)
    await store.create_user(user)
    stored = await store.get_user(user.user)
    assert stored is not None
    assert stored.password_hash.startswith(b"$scrypt$")
    assert password.encode() not in stored.password_hash
    assert await trio.to_thread.run_sync(verify_password, password, stored.password_hash)
    assert not await trio.to_thread.run_sync(verify_password, "wrong horse", stored.password_hash)


async def test_a_replaced_password_hash_is_found_by_name_and_by_id(store: Store) -> None:
    user = new_user()
    other = new_user()
    await store.create_user(user)
    await store.create_user(other)
    await store.set_password_hash(user, b"rehashed")
    assert await store.user_by_name(user.username) == User(user.user, user.username, b"rehashed", NOW)
    assert await store.get_user(user.user) == User(user.user, user.username, b"rehashed", NOW)
    # No one else's account changes.
    assert await store.user_by_name(other.username) == other
    assert await store.get_user(other.user) == other


async def test_concurrent_claims_of_one_username_have_one_winner(store: Store) -> None:
    username = new_name("contested")
    contenders = [new_user(username) for _ in range(20)]
    winners: list[User] = []
    losers: list[User] = []

    async def claim(user: User) -> None:
        try:
            await store.create_user(user)
        except UsernameTaken:
            losers.append(user)
        else:
            winners.append(user)

    async with trio.open_nursery() as nursery:
        for user in contenders:
            nursery.start_soon(claim, user)

    assert len(winners) == 1
    assert len(losers) == 19
    assert await store.user_by_name(username) == winners[0]
    for loser in losers:
        assert await store.get_user(loser.user) is None


async def test_cancelled_calls_leave_the_store_usable(store: Store) -> None:
    users = [new_user() for _ in range(20)]
    async with trio.open_nursery() as nursery:
        for user in users:
            nursery.start_soon(store.create_user, user)
        await trio.sleep(0)
        nursery.cancel_scope.cancel()

    # Each cancelled claim happened entirely or not at all...
    for user in users:
        assert await store.get_user(user.user) in (user, None)
    # ...and the store still serves calls.
    after = new_user()
    await store.create_user(after)
    assert await store.user_by_name(after.username) == after


# -- devices and tokens -------------------------------------------------------------


def new_device(user: int, name: str = "phone") -> Device:
    return Device(user, new_id(), name, NOW, NOW)


async def test_device_is_found_by_its_token_hash(store: Store) -> None:
    device = new_device(new_id())
    token = new_token()
    await store.add_device(device, token_hash(token))
    assert await store.device_by_token(token_hash(token)) == device
    assert await store.device_by_token(token_hash(new_token())) is None


async def test_devices_are_listed_by_device_id(store: Store) -> None:
    user = new_id()
    devices = [new_device(user, name) for name in ("phone", "laptop", "tablet")]
    for device in devices:
        await store.add_device(device, token_hash(new_token()))
    await store.add_device(new_device(new_id()), token_hash(new_token()))
    assert await store.devices(user) == sorted(devices, key=lambda d: d.device)
    assert await store.devices(new_id()) == []


async def test_touch_records_device_and_user_activity(store: Store) -> None:
    user, idle = new_id(), new_id()
    device = new_device(user)
    token = new_token()
    await store.add_device(device, token_hash(token))
    assert await store.last_active([user, idle]) == {}

    await store.touch_devices([Activity(user, device.device, NOW + 5_000)])
    assert await store.devices(user) == [Device(user, device.device, "phone", NOW, NOW + 5_000)]
    assert await store.last_active([user, idle]) == {user: NOW + 5_000}

    await store.touch_devices([Activity(user, device.device, NOW + 9_000)])
    touched = await store.device_by_token(token_hash(token))
    assert touched is not None and touched.last_active == NOW + 9_000
    assert await store.last_active(iter([idle, user])) == {user: NOW + 9_000}


async def test_many_devices_are_touched_in_one_call_and_time_never_goes_back(store: Store) -> None:
    users = [new_id() for _ in range(3)]
    devices = [new_device(user) for user in users for _ in range(2)]
    for device in devices:
        await store.add_device(device, token_hash(new_token()))
    await store.touch_devices(
        [Activity(d.user, d.device, NOW + 1_000 * i) for i, d in enumerate(devices, start=1)]
        # Reported late, and again in the same call: never moves backwards.
        + [Activity(d.user, d.device, NOW + 1) for d in devices]
    )
    for i, user in enumerate(users):
        assert {d.device: d.last_active for d in await store.devices(user)} == {
            devices[j].device: NOW + 1_000 * (j + 1) for j in (2 * i, 2 * i + 1)
        }
    assert await store.last_active(users) == {
        user: NOW + 1_000 * (2 * i + 2) for i, user in enumerate(users)
    }
    await store.touch_devices([])


async def test_revoked_device_is_forgotten(store: Store) -> None:
    user = new_id()
    kept, revoked = new_device(user, "kept"), new_device(user, "revoked")
    kept_token, revoked_token = new_token(), new_token()
    await store.add_device(kept, token_hash(kept_token))
    await store.add_device(revoked, token_hash(revoked_token))
    await store.set_push_target(user, revoked.device, PushTarget("apns", "device-token"))

    assert await store.revoke_device(user, revoked.device) is True

    assert await store.device_by_token(token_hash(revoked_token)) is None
    assert await store.devices(user) == [kept]
    assert await store.push_targets(user) == {}
    # A session still open on the revoked device must not bring it back.
    await store.touch_devices([Activity(user, revoked.device, NOW + 1_000)])
    assert await store.devices(user) == [kept]
    assert await store.device_by_token(token_hash(revoked_token)) is None
    assert await store.revoke_device(user, revoked.device) is False
    assert await store.device_by_token(token_hash(kept_token)) == kept


async def test_device_count_counts_what_devices_lists(store: Store) -> None:
    user = new_id()
    assert await store.device_count(user) == 0
    devices = [new_device(user, name) for name in ("phone", "laptop", "tablet")]
    for device in devices:
        await store.add_device(device, token_hash(new_token()))
    await store.add_device(new_device(new_id()), token_hash(new_token()))  # someone else's
    assert await store.device_count(user) == 3
    await store.revoke_device(user, devices[0].device)
    # Activity reported for a revoked device, or one never added, adds nothing.
    await store.touch_devices(
        [Activity(user, devices[0].device, NOW + 1_000), Activity(user, new_id(), NOW + 1_000)]
    )
    assert await store.device_count(user) == 2 == len(await store.devices(user))


async def test_revoking_an_unknown_device_is_false(store: Store) -> None:
    device = new_device(new_id())
    token = new_token()
    await store.add_device(device, token_hash(token))
    assert await store.revoke_device(new_id(), new_id()) is False
    # Someone else's device id is unknown for this user.
    assert await store.revoke_device(new_id(), device.device) is False
    assert await store.device_by_token(token_hash(token)) == device


# -- channels and membership --------------------------------------------------------


async def test_open_direct_gives_the_pair_one_channel_in_either_order(store: Store) -> None:
    a, b = new_id(), new_id()
    first, second = new_id(), new_id()
    channel = await store.open_direct(a, b, first, NOW)
    assert channel == Channel(first, ChannelKind.DIRECT, "", NOW, {a, b})
    assert await store.open_direct(b, a, second, NOW + 1) == channel
    assert await store.open_direct(a, b, second, NOW + 2) == channel
    assert await store.get_channel(first) == channel
    assert await store.get_channel(second) is None
    assert await store.user_channels(a) == [first]
    assert await store.user_channels(b) == [first]


async def test_each_pair_has_its_own_direct_channel(store: Store) -> None:
    a, b, c = new_id(), new_id(), new_id()
    ab = await store.open_direct(a, b, new_id(), NOW)
    ac = await store.open_direct(c, a, new_id(), NOW)
    assert ab.channel != ac.channel
    assert ac.members == {a, c}
    assert await store.user_channels(a) == sorted([ab.channel, ac.channel])
    assert await store.user_channels(c) == [ac.channel]


async def test_concurrent_open_direct_agrees_on_one_channel(store: Store) -> None:
    a, b = new_id(), new_id()
    proposals = [new_id() for _ in range(20)]
    opened: list[Channel] = []

    async def open_direct(i: int, proposal: int) -> None:
        first, second = (a, b) if i % 2 == 0 else (b, a)
        opened.append(await store.open_direct(first, second, proposal, NOW + i))

    async with trio.open_nursery() as nursery:
        for i, proposal in enumerate(proposals):
            nursery.start_soon(open_direct, i, proposal)

    assert len(set(opened)) == 1
    channel = opened[0]
    assert channel.channel in proposals
    assert channel.kind is ChannelKind.DIRECT
    assert channel.members == {a, b}
    assert await store.get_channel(channel.channel) == channel
    for proposal in proposals:
        if proposal != channel.channel:
            assert await store.get_channel(proposal) is None
    assert await store.user_channels(a) == [channel.channel]
    assert await store.user_channels(b) == [channel.channel]


async def test_group_is_stored_with_its_members_both_ways(store: Store) -> None:
    members = {new_id() for _ in range(3)}
    group = Channel(new_id(), ChannelKind.GROUP, "launch team", NOW, members)
    await store.create_group(group)
    assert await store.get_channel(group.channel) == group
    for member in members:
        assert await store.user_channels(member) == [group.channel]


async def test_membership_changes_show_in_both_directions(store: Store) -> None:
    a, b, c, d = (new_id() for _ in range(4))
    group = Channel(new_id(), ChannelKind.GROUP, "g", NOW, {a, b})
    await store.create_group(group)

    await store.add_members(group.channel, (user for user in (c, d)))
    await store.add_members(group.channel, [a])
    assert await store.get_channel(group.channel) == Channel(
        group.channel, ChannelKind.GROUP, "g", NOW, {a, b, c, d}
    )
    assert await store.user_channels(c) == [group.channel]

    await store.remove_member(group.channel, b)
    await store.remove_member(group.channel, b)
    await store.remove_member(group.channel, new_id())
    stored = await store.get_channel(group.channel)
    assert stored is not None and stored.members == {a, c, d}
    assert await store.user_channels(b) == []
    assert await store.user_channels(a) == [group.channel]


async def test_user_channels_are_ascending(store: Store) -> None:
    user = new_id()
    ids = [new_id() for _ in range(5)]
    for channel in ids:
        await store.create_group(Channel(channel, ChannelKind.GROUP, "g", NOW, {user}))
    assert await store.user_channels(user) == sorted(ids)


async def test_user_channels_come_a_page_at_a_time(store: Store) -> None:
    user = new_id()
    ids = sorted(new_id() for _ in range(7))
    for channel in ids:
        await store.create_group(Channel(channel, ChannelKind.GROUP, "g", NOW, {user}))
    assert await store.user_channels(user, limit=3) == ids[:3]
    assert await store.user_channels(user, after=ids[2], limit=3) == ids[3:6]
    assert await store.user_channels(user, after=ids[5], limit=3) == ids[6:]
    assert await store.user_channels(user, after=ids[3]) == ids[4:]
    assert await store.user_channels(user, after=ids[2] + 1, limit=1) == [ids[3]], "after need not be a channel"
    assert await store.user_channels(user, after=ids[6]) == []
    assert await store.user_channels(user, limit=0) == []


async def test_a_direct_channel_is_found_by_its_pair_without_opening_one(store: Store) -> None:
    a, b, c = new_id(), new_id(), new_id()
    assert await store.find_direct(a, b) is None
    channel = await store.open_direct(a, b, new_id(), NOW)
    assert await store.find_direct(a, b) == channel.channel
    assert await store.find_direct(b, a) == channel.channel
    assert await store.find_direct(a, c) is None
    assert await store.user_channels(c) == [], "looking opened nothing"


async def test_unknown_channel_is_none(store: Store) -> None:
    assert await store.get_channel(new_id()) is None
    assert await store.user_channels(new_id()) == []


# -- read markers -----------------------------------------------------------------


async def test_read_marker_only_moves_forward(store: Store) -> None:
    user, channel, other = new_id(), new_id(), new_id()
    assert await store.read_markers(user) == {}
    await store.advance_read_marker(user, channel, 5)
    await store.advance_read_marker(user, channel, 3)
    assert await store.read_markers(user) == {channel: 5}
    await store.advance_read_marker(user, channel, 8)
    await store.advance_read_marker(user, other, 1)
    assert await store.read_markers(user) == {channel: 8, other: 1}
    assert await store.read_markers(new_id()) == {}


async def test_concurrent_advances_settle_on_the_highest(store: Store) -> None:
    user, channel = new_id(), new_id()
    seqs = list(range(1, 21))
    random.shuffle(seqs)
    async with trio.open_nursery() as nursery:
        for seq in seqs:
            nursery.start_soon(store.advance_read_marker, user, channel, seq)
    assert await store.read_markers(user) == {channel: 20}


# -- cluster membership -------------------------------------------------------------


async def mine(store: Store, nodes: set[int]) -> list[NodeRecord]:
    """The live rows of these nodes: a shared database has other tests' nodes too."""
    live = await store.live_nodes()
    assert [n.node for n in live] == sorted(n.node for n in live)
    return [n for n in live if n.node in nodes]


async def test_node_rows_are_registered_refreshed_and_removed(store: Store) -> None:
    one = NodeRecord(new_id(), "10.0.0.1:7400", NOW)
    two = NodeRecord(new_id(), "10.0.0.2:7400", NOW)
    ids = {one.node, two.node}
    await store.register_node(one, ttl=60)
    await store.register_node(two, ttl=60)
    assert await mine(store, ids) == sorted([one, two], key=lambda n: n.node)

    restarted = NodeRecord(one.node, "10.0.0.9:7400", NOW + 1)
    await store.register_node(restarted, ttl=60)
    assert await mine(store, ids) == sorted([restarted, two], key=lambda n: n.node)

    await store.remove_node(one.node)
    assert await mine(store, ids) == [two]
    await store.remove_node(two.node)
    assert await mine(store, ids) == []


async def test_node_row_disappears_after_its_ttl(store: Store) -> None:
    node = NodeRecord(new_id(), "10.0.0.3:7400", NOW)
    await store.register_node(node, ttl=2)
    assert await mine(store, {node.node}) == [node]
    # A bound on waiting, not an assertion on speed: the row must go at all.
    with trio.fail_after(30):
        while await mine(store, {node.node}):
            await trio.sleep(0.2)
