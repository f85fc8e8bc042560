"""Request ids: unique among requests in flight, replies matched by id in any order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client._pending import ID_LIMIT, PendingTable


def test_replies_in_any_order_find_their_waiter() -> None:
    table: PendingTable[str] = PendingTable(8)
    ids = {name: table.add(name) for name in "abc"}
    assert table.pop(ids["c"]) == "c"
    assert table.pop(ids["a"]) == "a"
    assert table.pop(ids["b"]) == "b"
    assert len(table) == 0


def test_a_reply_nobody_waits_for_is_dropped() -> None:
    table: PendingTable[str] = PendingTable(8)
    request_id = table.add("a")
    assert table.pop(request_id) == "a"
    assert table.pop(request_id) is None
    assert table.pop(12345) is None


def test_the_table_is_bounded() -> None:
    table: PendingTable[str] = PendingTable(2)
    table.add("a")
    table.add("b")
    assert table.full
    with pytest.raises(OverflowError):
        table.add("c")


def test_ids_wrap_around_without_reusing_one_in_flight() -> None:
    table: PendingTable[str] = PendingTable(4)
    table._next = ID_LIMIT - 2  # as if two billion requests had gone by
    old = table.add("old")  # ID_LIMIT - 2, stays in flight
    table._next = ID_LIMIT - 2  # wrap back onto it
    later = [table.add(x) for x in "xyz"]
    assert later == [ID_LIMIT - 1, 1, 2]
    assert old not in later and all(0 < i < ID_LIMIT for i in later)


def test_drain_hands_back_every_waiter_once() -> None:
    table: PendingTable[str] = PendingTable(8)
    for name in "abc":
        table.add(name)
    assert sorted(table.drain()) == ["a", "b", "c"]
    assert table.drain() == [] and len(table) == 0


@given(st.lists(st.booleans(), max_size=200))
def test_ids_in_flight_are_always_distinct(ops: list[bool]) -> None:
    table: PendingTable[int] = PendingTable(16)
    in_flight: list[int] = []
    for add in ops:
        if add and not table.full:
            in_flight.append(table.add(len(in_flight)))
        elif in_flight:
            assert table.pop(in_flight.pop(0)) is not None
        assert len(set(in_flight)) == len(in_flight) == len(table)
