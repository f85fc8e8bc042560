"""The token bucket, on a clock the test moves by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol import TokenBucket


def test_a_full_bucket_allows_its_burst_at_once() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    for _ in range(3):
        bucket.take(0.0)
    assert not bucket.take(0.4)
    assert bucket.take(0.5)
    assert not bucket.take(0.5)
    assert bucket.take(1.0)


def test_an_idle_bucket_holds_no_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(4)] == [True, True, True, False]


def test_retry_after_is_zero_when_a_token_is_there() -> None:
    assert TokenBucket(rate=1.0, burst=1).retry_after_ms(0.0) == 0


def test_retry_after_is_the_time_to_the_next_token_rounded_up() -> None:
    bucket = TokenBucket(rate=3.0, burst=1)
    bucket.take(0.0)
    assert bucket.retry_after_ms(0.0) == 334  # 333.3 ms
    assert bucket.retry_after_ms(0.3) == 34
    assert bucket.retry_after_ms(0.3334) == 0


def test_a_clock_stepping_back_neither_refills_nor_drains() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    bucket.take(10.0)
    bucket.take(10.0)
    assert not bucket.take(5.0)
    assert bucket.retry_after_ms(5.0) == 1000
    assert bucket.take(11.0)


@given(
    rate=st.floats(min_value=0.01, max_value=10_000.0),
    burst=st.integers(min_value=1, max_value=1000),
    start=st.floats(min_value=0.0, max_value=1e6),
    gaps=st.lists(st.floats(min_value=0.0, max_value=10.0), max_size=50),
)
def test_waiting_the_advertised_retry_always_succeeds(
    rate: float, burst: int, start: float, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now = start
    for gap in gaps:
        now += gap
        if not bucket.take(now):
            now += bucket.retry_after_ms(now) / 1000.0
            assert bucket.take(now)


@given(
    rate=st.floats(min_value=0.01, max_value=100.0),
    burst=st.integers(min_value=1, max_value=100),
    span=st.floats(min_value=0.0, max_value=10.0),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, span: float
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    taken = 0
    steps = 50
    for step in range(steps + 1):
        now = span * step / steps
        while bucket.take(now):
            taken += 1
    assert taken <= burst + rate * span + 1e-6


def test_a_bucket_is_full_again_once_it_has_refilled_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert bucket.full(0.0)
    bucket.take(0.0)
    assert not bucket.full(0.4)
    assert bucket.full(0.5)
