"""The caps on forced membership, decided without an event loop: time is an argument."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors._caps import HOUR, BucketTable, MembershipCaps

ATTACKER, VICTIM = 1, 2


def test_a_creator_makes_a_burst_of_groups_then_waits_for_the_refill() -> None:
    caps = MembershipCaps(groups_per_hour=20, added_per_hour=10_000)
    admitted = [caps.admit(0.0, creator=ATTACKER, added=[VICTIM + i]) for i in range(800)]
    assert admitted[:20] == [0] * 20
    retry = admitted[20]
    assert 0 < retry <= HOUR / 20 * 1000 + 1, "one group's worth of the hour"
    assert admitted[20:] == [retry] * 780, "refused, and nothing counted while refused"
    assert caps.admit(retry / 1000, creator=ATTACKER, added=[VICTIM]) == 0
    assert caps.admit(retry / 1000, creator=ATTACKER, added=[VICTIM]) > 0


def test_a_victim_is_added_at_most_its_cap_however_many_accounts_try() -> None:
    caps = MembershipCaps(groups_per_hour=20, added_per_hour=50)
    admitted = [caps.admit(0.0, creator=100 + account, added=[VICTIM, 10_000 + account]) for account in range(800)]
    assert admitted.count(0) == 50
    assert admitted[:50] == [0] * 50
    # The refused ones counted nothing against their other member either.
    assert caps.admit(0.0, creator=None, added=[10_000 + 799]) == 0


def test_a_refused_request_counts_against_no_one() -> None:
    caps = MembershipCaps(groups_per_hour=2, added_per_hour=1)
    assert caps.admit(0.0, creator=ATTACKER, added=[VICTIM]) == 0
    assert caps.admit(0.0, creator=ATTACKER, added=[VICTIM, 3]) > 0, "the victim is at its cap"
    assert caps.admit(0.0, creator=ATTACKER, added=[3]) == 0, "the creator's second group was not spent"
    assert caps.admit(0.0, creator=None, added=[4]) == 0, "invites and directs have no creator cap"


def test_the_retry_is_when_the_request_passes() -> None:
    caps = MembershipCaps(groups_per_hour=5, added_per_hour=3)
    for _ in range(3):
        assert caps.admit(0.0, creator=ATTACKER, added=[VICTIM]) == 0
    retry = caps.admit(10.0, creator=ATTACKER, added=[VICTIM])
    assert retry > 0
    assert caps.admit(10.0 + (retry - 1) / 1000, creator=ATTACKER, added=[VICTIM]) > 0
    assert caps.admit(10.0 + retry / 1000, creator=ATTACKER, added=[VICTIM]) == 0


def test_a_refilled_bucket_is_forgotten() -> None:
    table = BucketTable(rate=1 / 60, burst=60, capacity=1000)
    for key in range(100):
        table.take(key, 0.0)
    assert len(table) == 100
    table.take(1000, HOUR - 1)
    assert len(table) == 101, "not refilled yet: remembered"
    table.take(1001, HOUR)
    assert len(table) == 2, "the hundred have refilled: they are like new ones"
    assert table.retry_ms(5, HOUR) == 0


def test_beyond_capacity_the_least_recently_used_is_forgotten() -> None:
    table = BucketTable(rate=1 / HOUR, burst=1, capacity=3)
    for key in (1, 2, 3):
        table.take(key, 0.0)
    assert table.retry_ms(1, 1.0) > 0
    table.take(4, 1.0)
    assert len(table) == 3
    assert table.retry_ms(1, 1.0) == 0, "the oldest went first"
    assert all(table.retry_ms(key, 1.0) > 0 for key in (2, 3, 4))


@settings(max_examples=50)
@given(keys=st.lists(st.integers(1, 2**63 - 1), min_size=1, max_size=2000), capacity=st.integers(1, 100))
def test_ids_an_attacker_chooses_never_grow_the_table_past_capacity(keys: list[int], capacity: int) -> None:
    table = BucketTable(rate=1 / HOUR, burst=3, capacity=capacity)
    for at, key in enumerate(keys):
        if table.retry_ms(key, at * 0.001) == 0:
            table.take(key, at * 0.001)
        assert len(table) <= capacity
