"""The reconnect schedule: full jitter under an exponentially growing, capped window."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client import Backoff


def test_the_window_doubles_per_attempt_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(1))
    windows = []
    for _ in range(6):
        windows.append(backoff.window())
        backoff.next_delay()
    assert windows == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(
    base=st.floats(0.01, 5),
    extra=st.floats(0, 100),
    attempts=st.integers(0, 2000),
    floor=st.floats(0, 60),
    seed=st.integers(),
)
def test_each_delay_lies_in_floor_plus_window(
    base: float, extra: float, attempts: int, floor: float, seed: int
) -> None:
    backoff = Backoff(base, base + extra, random.Random(seed), attempt=attempts)
    window = backoff.window()
    assert window <= base + extra
    delay = backoff.next_delay(floor)
    assert floor <= delay <= floor + window
    assert backoff.attempt == attempts + 1


def test_jitter_is_full_not_a_fixed_schedule() -> None:
    backoff = Backoff(1.0, 1.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    # Spread over the whole window, which is what keeps a crowd of clients apart.
    assert min(delays) < 0.1 and max(delays) > 0.9


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = Backoff(0.5, 30.0, random.Random(42))
    second = Backoff(0.5, 30.0, random.Random(42))
    assert [first.next_delay() for _ in range(10)] == [second.next_delay() for _ in range(10)]


def test_reset_starts_from_base_again() -> None:
    backoff = Backoff(0.5, 30.0, random.Random(3))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.window() == 0.5


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_nonsense_parameters_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        Backoff(base, cap)
