"""Snowflake ids: 63 bits, unique across nodes, ordered by time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import IdGenerator
from runtime._ids import EPOCH_MS, MAX_NODE


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


START = EPOCH_MS + 10_000


def test_layout_round_trips() -> None:
    gen = IdGenerator(517, Clock(START))
    first, second = gen.next_id(), gen.next_id()
    assert IdGenerator.parts(first).ms == START
    assert IdGenerator.parts(first).node == 517
    assert (IdGenerator.parts(first).counter, IdGenerator.parts(second).counter) == (0, 1)
    assert 0 < first < second < 2**63


@given(st.lists(st.integers(min_value=-5, max_value=5), min_size=1, max_size=300))
def test_strictly_increasing_even_when_the_clock_steps_back(steps: list[int]) -> None:
    clock = Clock(START)
    gen = IdGenerator(3, clock)
    ids = []
    for step in steps:
        clock.ms += step
        ids.append(gen.next_id())
    assert ids == sorted(set(ids))


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    gen = IdGenerator(1, Clock(START))
    ids = [gen.next_id() for _ in range(4096 * 2 + 1)]
    assert ids == sorted(set(ids))
    assert IdGenerator.parts(ids[-1]).ms == START + 2


@given(st.sets(st.integers(min_value=0, max_value=MAX_NODE), min_size=2, max_size=8), st.integers(1, 50))
def test_nodes_never_collide_and_time_orders_across_nodes(nodes: set[int], per_ms: int) -> None:
    clock = Clock(START)
    gens = [IdGenerator(node, clock) for node in sorted(nodes)]
    earlier = {g.next_id() for g in gens for _ in range(per_ms)}
    clock.ms += 1
    later = {g.next_id() for g in gens for _ in range(per_ms)}
    assert len(earlier | later) == 2 * len(gens) * per_ms
    assert max(earlier) < min(later)


def test_rejects_bad_node_ids_and_clocks() -> None:
    with pytest.raises(ValueError):
        IdGenerator(MAX_NODE + 1)
    with pytest.raises(ValueError):
        IdGenerator(-1)
    with pytest.raises(ValueError, match="epoch"):
        IdGenerator(0, Clock(EPOCH_MS - 1)).next_id()


def test_default_clock_is_the_wall_clock() -> None:
    import time

    now = time.time_ns() // 1_000_000
    assert abs(IdGenerator.parts(IdGenerator(0).next_id()).ms - now) < 60_000
