"""The Store contract for message sequences: leases, fencing, appends, reads, dedup."""

from __future__ import annotations

import attrs
import pytest
import trio

from storage import Dedup, Fenced, Message, SeqLease, Store

from .fresh import append, draft, message, new_id

# The Scylla store keeps seqs 1000 * k .. 1000 * k + 999 in one partition;
# reads must be seamless across that boundary on every store.
BUCKET = 1000


async def append_all(store: Store, lease: SeqLease, messages: list[Message]) -> None:
    """In batches of up to 13: one append call stores many messages in order
    (on Scylla more dedup entries than ride in a batch of message rows)."""
    for start in range(0, len(messages), 13):
        await append(store, lease, *messages[start : start + 13])


async def stored_channel(
    store: Store, count: int, body: str | None = None
) -> tuple[int, list[Message]]:
    """A fresh channel holding messages 1..count."""
    channel = new_id()
    lease = await store.take_lease(channel)
    messages = [message(channel, seq, body=body) for seq in range(1, count + 1)]
    await append_all(store, lease, messages)
    return channel, messages


async def test_a_new_channel_starts_at_zero(store: Store) -> None:
    channel = new_id()
    assert await store.last_seqs([channel]) == {channel: 0}
    lease = await store.take_lease(channel)
    assert (lease.channel, lease.last) == (channel, 0)
    assert await store.read_range(channel, 0, 10, 10) == []
    assert await store.read_before(channel, 10, 10) == []


async def test_appended_messages_are_read_back_exactly(store: Store) -> None:
    channel, m = await stored_channel(store, 5)
    other = new_id()
    assert await store.last_seqs([channel, other]) == {channel: 5, other: 0}

    assert await store.read_range(channel, 0, 5, 10) == m
    assert await store.read_range(channel, 1, 4, 10) == m[1:4]
    assert await store.read_range(channel, 0, 5, 2) == m[:2]
    assert await store.read_range(channel, 3, 3, 10) == []
    assert await store.read_range(channel, 5, 10, 10) == []
    assert await store.read_range(channel, 0, 5, 0) == []

    assert await store.read_before(channel, 6, 10) == m
    assert await store.read_before(channel, 4, 2) == m[1:3]
    assert await store.read_before(channel, 1, 10) == []
    assert await store.read_before(channel, 6, 0) == []
    assert await store.read_range(other, 0, 5, 10) == []


async def test_a_new_lease_continues_after_the_stored_messages(store: Store) -> None:
    channel, m = await stored_channel(store, 3)
    lease = await store.take_lease(channel)
    assert lease.last == 3
    following = message(channel, 4)
    await append(store, lease, following)
    assert await store.read_range(channel, 0, 10, 10) == [*m, following]
    assert (await store.take_lease(channel)).epoch > lease.epoch


async def test_a_repeated_send_answers_where_it_was_stored(store: Store) -> None:
    channel, [first, second] = await stored_channel(store, 2)
    lease = await store.take_lease(channel)
    fresh = message(channel, 3)
    # Repeats of earlier appends and of a draft earlier in the same batch.
    assert await store.append(lease, 2, [draft(second), draft(fresh), draft(first), draft(fresh)]) == [
        Dedup(channel, 2, second.ts),
        fresh,
        Dedup(channel, 1, first.ts),
        Dedup(channel, 3, fresh.ts),
    ]
    # A batch of repeats only stores nothing and moves nothing.
    assert await store.append(lease, 3, [draft(first)]) == [Dedup(channel, 1, first.ts)]
    assert await store.append(lease, 3, []) == []
    assert await store.last_seqs([channel]) == {channel: 3}
    assert await store.read_range(channel, 0, 10, 10) == [first, second, fresh]


async def test_a_batch_of_repeats_answers_each_where_it_was_stored(store: Store) -> None:
    # More repeats than one dedup read holds on Scylla (64 cids).
    channel, messages = await stored_channel(store, 70)
    lease = await store.take_lease(channel)
    fresh = message(channel, 71)
    drafts = [draft(m) for m in reversed(messages)] + [draft(fresh)]
    assert await store.append(lease, 70, drafts) == [
        *(Dedup(channel, m.seq, m.ts) for m in reversed(messages)),
        fresh,
    ]


async def test_a_cid_is_unique_per_sender_across_channels(store: Store) -> None:
    channel, [first] = await stored_channel(store, 1)
    other = new_id()
    lease = await store.take_lease(other)
    # The same sender's cid in another channel answers with the first channel.
    assert await store.append(lease, 0, [draft(first)]) == [Dedup(channel, 1, first.ts)]
    # Another sender's identical cid is a send of its own.
    theirs = attrs.evolve(first, channel=other, seq=1, sender=first.sender + 1)
    assert await store.append(lease, 0, [draft(theirs)]) == [theirs]
    assert await store.read_range(other, 0, 10, 10) == [theirs]


async def test_a_superseded_lease_is_fenced(store: Store) -> None:
    channel = new_id()
    first = await store.take_lease(channel)
    one = message(channel, 1)
    await append(store, first, one)

    second = await store.take_lease(channel)
    assert second.epoch > first.epoch
    assert second.last == 1

    zombie = message(channel, 2, body="from the node that lost the channel")
    with pytest.raises(Fenced):
        await append(store, first, zombie)
    two = message(channel, 2)
    await append(store, second, two)

    assert await store.read_range(channel, 0, 10, 10) == [one, two]
    assert await store.last_seqs([channel]) == {channel: 2}
    # The fenced send was never acknowledged: its retry is a new send.
    retried = attrs.evolve(zombie, seq=3)
    assert await store.append(second, 2, [draft(two), draft(zombie)]) == [
        Dedup(channel, 2, two.ts),
        retried,
    ]

    third = await store.take_lease(channel)
    assert third.last == 3
    with pytest.raises(Fenced):
        await append(store, second, message(channel, 4))
    with pytest.raises(Fenced):
        await append(store, first, message(channel, 4))
    assert await store.read_range(channel, 0, 10, 10) == [one, two, retried]


async def test_a_lease_superseded_before_its_first_append_is_fenced(store: Store) -> None:
    channel = new_id()
    first = await store.take_lease(channel)
    second = await store.take_lease(channel)
    assert second.last == 0
    with pytest.raises(Fenced):
        await append(store, first, message(channel, 1))
    one = message(channel, 1)
    await append(store, second, one)
    assert await store.read_range(channel, 0, 10, 10) == [one]


async def test_reads_page_across_the_bucket_boundary(store: Store) -> None:
    count = BUCKET + 5
    channel, m = await stored_channel(store, count, body="")
    assert await store.last_seqs([channel]) == {channel: count}

    def seqs(messages: list[Message]) -> list[int]:
        return [x.seq for x in messages]

    assert await store.read_range(channel, 0, count, count) == m
    assert seqs(await store.read_range(channel, 995, 1003, 100)) == list(range(996, 1004))
    assert seqs(await store.read_range(channel, 997, count, 4)) == [998, 999, 1000, 1001]
    assert seqs(await store.read_range(channel, 999, 1000, 10)) == [1000]
    assert seqs(await store.read_before(channel, 1002, 5)) == [997, 998, 999, 1000, 1001]
    assert seqs(await store.read_before(channel, 1000, 3)) == [997, 998, 999]
    assert seqs(await store.read_before(channel, 1001, 1)) == [1000]

    forward: list[Message] = []
    while page := await store.read_range(channel, len(forward), count, 128):
        assert len(page) == min(128, count - len(forward))
        forward += page
    assert forward == m

    backward: list[Message] = []
    before = count + 1
    while page := await store.read_before(channel, before, 128):
        assert seqs(page) == list(range(max(1, before - 128), before))
        backward = page + backward
        before = page[0].seq
    assert backward == m


async def test_reads_with_far_bounds_stop_at_the_stored_messages(store: Store) -> None:
    channel, m = await stored_channel(store, 3)
    far = 2**62
    # A bound on a hang (a store walking empty buckets up to `far`), not a
    # speed assertion.
    with trio.fail_after(60):
        assert await store.read_range(channel, 0, far, 10) == m
        assert await store.read_range(channel, 2, far, 10) == m[2:]
        assert await store.read_range(channel, 3, far, 10) == []
        assert await store.read_before(channel, far, 2) == m[1:]
        assert await store.read_range(new_id(), 0, far, 10) == []
        assert await store.read_before(new_id(), far, 10) == []


@pytest.mark.parametrize(
    "body",
    [
        "",
        "a" * 2047,
        "a" * 2048,
        "a" * 2049,
        "\u00e9" * 1024,  # 2048 UTF-8 bytes
        "\u00e9" * 1025,
        "\U0001f600" * 512,  # 2048 UTF-8 bytes
        "\U0001f600" * 513,
        "nul \x00 inside, \u202e bidi, \ufeff bom",
    ],
    ids=[
        "empty",
        "2047B",
        "2048B",
        "2049B",
        "2-byte-2048B",
        "2-byte-2050B",
        "4-byte-2048B",
        "4-byte-2052B",
        "controls",
    ],
)
async def test_bodies_round_trip_unchanged(store: Store, body: str) -> None:
    channel, m = await stored_channel(store, 3, body=body)
    assert await store.read_range(channel, 0, 3, 10) == m
    assert await store.read_before(channel, 3, 1) == m[1:2]


async def test_the_largest_body_of_four_byte_characters_round_trips(store: Store) -> None:
    channel = new_id()
    lease = await store.take_lease(channel)
    big = message(channel, 1, body="\U0001f600" * 100_000)
    small = message(channel, 2)
    await append_all(store, lease, [big, small])
    assert await store.read_range(channel, 0, 2, 10) == [big, small]
    assert await store.read_before(channel, 3, 10) == [big, small]
    assert await store.read_before(channel, 2, 1) == [big]


# Bodies near the protocol's largest: 100,000 characters of up to 4 bytes.
LARGE = "\U0001f600" * 100_000  # 400,000 UTF-8 bytes
LARGE_BYTES = 400_000


@pytest.mark.parametrize("small", ["", "a" * 2048], ids=["empty", "inline-2048B"])
async def test_a_byte_budget_keeps_the_first_messages_whose_bodies_fit(store: Store, small: str) -> None:
    channel = new_id()
    lease = await store.take_lease(channel)
    m = [message(channel, seq, body=small if seq % 3 == 0 else LARGE) for seq in range(1, 13)]
    await append_all(store, lease, m)
    budget = 3 * LARGE_BYTES + 2 * len(small)  # three large bodies and two small ones

    assert await store.read_range(channel, 0, 12, 500, max_bytes=budget) == m[:4]
    assert await store.read_range(channel, 4, 12, 500, max_bytes=budget) == m[4:9]
    assert await store.read_range(channel, 0, 12, 2, max_bytes=budget) == m[:2], "limit still applies"
    assert await store.read_range(channel, 0, 12, 500, max_bytes=1) == m[:1], "always at least one"
    assert await store.read_before(channel, 13, 500, max_bytes=budget) == m[7:]
    assert await store.read_before(channel, 8, 500, max_bytes=budget) == m[2:7]
    assert await store.read_before(channel, 12, 500, max_bytes=1) == m[10:11]
    assert await store.read_range(channel, 0, 12, 500) == m, "no budget: the whole range"


async def test_a_byte_budget_counts_bytes_not_characters(store: Store) -> None:
    channel = new_id()
    lease = await store.take_lease(channel)
    # 3,000 characters each: 3,000 bytes inline-sized in ASCII, 12,000 as emoji.
    m = [message(channel, seq, body=("a" if seq <= 4 else "\U0001f600") * 3000) for seq in range(1, 9)]
    await append_all(store, lease, m)
    assert await store.read_range(channel, 0, 8, 500, max_bytes=12_000) == m[:4]
    assert await store.read_range(channel, 4, 8, 500, max_bytes=12_000) == m[4:5]


async def test_a_byte_budget_holds_across_the_bucket_boundary(store: Store) -> None:
    start = BUCKET - 2  # m: seqs 998 and 999 in one bucket, 1000 to 1002 in the next
    channel, _ = await stored_channel(store, start - 1, body="")
    lease = await store.take_lease(channel)
    m = [message(channel, seq, body=LARGE) for seq in range(start, start + 5)]
    await append_all(store, lease, m)
    budget = 3 * LARGE_BYTES
    assert await store.read_range(channel, start - 1, start + 4, 500, max_bytes=budget) == m[:3]
    assert await store.read_before(channel, start + 4, 500, max_bytes=budget) == m[1:4]
