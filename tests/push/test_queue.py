"""A provider's queue without an event loop: collapse, bounds, withdrawal, retries and their deadline."""

from __future__ import annotations

import email.utils

from hypothesis import given
from hypothesis import strategies as st

from push import Failure, Notification, Target
from push._outcome import Backoff, Outcome, parse_retry_after, retry_delay
from push._queue import Offered, PushQueue, Settled

TARGET = Target("fcm", "token-1", registered=5)


def note(key: object, seq: int = 1) -> Notification:
    return Notification(key, TARGET, channel=3, seq=seq, unread=1)


def queue(capacity: int = 10, tries: int = 4, deadline: float = 100.0) -> PushQueue:
    return PushQueue(capacity, tries, deadline, uniform=lambda: 0.5)


def test_a_newer_notification_replaces_the_pending_one_and_keeps_its_place() -> None:
    q = queue()
    assert q.offer(note("a", 1), 0) is Offered.QUEUED
    assert q.offer(note("b", 1), 0) is Offered.QUEUED
    assert q.offer(note("a", 2), 0) is Offered.COLLAPSED
    assert len(q) == 2
    first = q.take(0)
    assert first is not None and first.notification == note("a", 2)


def test_a_full_queue_drops_the_newcomer_but_still_collapses() -> None:
    q = queue(capacity=2)
    assert q.offer(note("a"), 0) is Offered.QUEUED
    assert q.offer(note("b"), 0) is Offered.QUEUED
    assert q.offer(note("c"), 0) is Offered.DROPPED
    assert q.offer(note("a", 2), 0) is Offered.COLLAPSED
    assert len(q) == 2


def test_one_request_per_key_at_a_time_and_the_newer_goes_after() -> None:
    q = queue()
    q.offer(note("a", 1), 0)
    flying = q.take(0)
    assert flying is not None
    q.offer(note("a", 2), 0)
    assert q.take(0) is None, "the newer one waits for the request in flight"
    assert q.settle(flying, Outcome.sent(), 1) is Settled.SENT
    after = q.take(1)
    assert after is not None and after.notification.seq == 2


def test_a_retry_honours_retry_after_then_goes_again() -> None:
    q = queue()
    q.offer(note("a"), 0)
    entry = q.take(0)
    assert entry is not None
    assert q.settle(entry, Outcome.retry("HTTP 429", retry_after=7.0), 1) is Settled.RETRYING
    assert q.next_due() == 8.0
    assert q.take(7.9) is None
    again = q.take(8.0)
    assert again is not None and again.tries == 2


def test_a_newer_offer_supersedes_one_waiting_to_retry() -> None:
    q = queue()
    q.offer(note("a", 1), 0)
    entry = q.take(0)
    assert entry is not None
    q.settle(entry, Outcome.retry("HTTP 503", retry_after=50.0), 0)
    assert q.offer(note("a", 2), 1) is Offered.COLLAPSED
    fresh = q.take(1)
    assert fresh is not None and fresh.notification.seq == 2 and fresh.tries == 1
    assert q.next_due() is None


def test_a_retry_with_a_newer_one_pending_is_superseded() -> None:
    q = queue()
    q.offer(note("a", 1), 0)
    entry = q.take(0)
    assert entry is not None
    q.offer(note("a", 2), 0)
    assert q.settle(entry, Outcome.retry("HTTP 500"), 1) is Settled.SUPERSEDED
    assert len(q) == 1


def test_tries_and_the_deadline_bound_the_retries() -> None:
    q = queue(tries=2)
    q.offer(note("a"), 0)
    entry = q.take(0)
    assert entry is not None
    assert q.settle(entry, Outcome.retry("HTTP 500", retry_after=1.0), 0) is Settled.RETRYING
    entry = q.take(1)
    assert entry is not None
    assert q.settle(entry, Outcome.retry("HTTP 500", retry_after=1.0), 1) is Settled.EXHAUSTED
    assert len(q) == 0

    q = queue(deadline=10.0)
    q.offer(note("b"), 0)
    entry = q.take(0)
    assert entry is not None
    assert q.settle(entry, Outcome.retry("HTTP 429", retry_after=11.0), 0) is Settled.EXHAUSTED


def test_withdraw_forgets_pending_waiting_and_in_flight() -> None:
    q = queue()
    q.offer(note("a"), 0)
    q.offer(note("b"), 0)
    assert q.withdraw("a")
    entry = q.take(0)
    assert entry is not None and entry.notification.key == "b"
    assert q.withdraw("b"), "in flight: its retry is cancelled"
    assert q.settle(entry, Outcome.retry("HTTP 500"), 0) is Settled.WITHDRAWN
    assert not q.withdraw("c")
    assert len(q) == 0


def test_a_retry_that_finds_the_queue_full_overflows() -> None:
    q = queue(capacity=1)
    q.offer(note("a"), 0)
    entry = q.take(0)
    assert entry is not None
    q.offer(note("b"), 0)
    assert q.settle(entry, Outcome.retry("HTTP 500"), 0) is Settled.OVERFLOW


def test_failures_and_gone_are_final() -> None:
    q = queue()
    q.offer(note("a"), 0)
    entry = q.take(0)
    assert entry is not None
    assert q.settle(entry, Outcome.failed(Failure.CREDENTIALS, "401"), 0) is Settled.FAILED
    q.offer(note("b"), 0)
    entry = q.take(0)
    assert entry is not None
    assert q.settle(entry, Outcome.gone("410"), 0) is Settled.GONE
    assert len(q) == 0 and q.next_due() is None


@given(st.lists(st.tuples(st.sampled_from(["offer", "take", "withdraw", "retry", "send"]), st.integers(0, 30))))
def test_the_queue_never_holds_more_than_its_capacity(steps: list[tuple[str, int]]) -> None:
    q = queue(capacity=5, tries=3, deadline=1e9)
    flying = []
    for now, (step, key) in enumerate(steps):
        if step == "offer":
            q.offer(note(key), now)
        elif step == "take" and (entry := q.take(now)) is not None:
            flying.append(entry)
        elif step == "withdraw":
            q.withdraw(key)
        elif flying:
            entry = flying.pop(0)
            q.settle(entry, Outcome.retry("500", 1.0) if step == "retry" else Outcome.sent(), now)
        assert len(q) <= 5
        assert q.in_flight == len(flying)
        assert len(q._due) <= 2 * len(q._waiting) + 16


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", 0) == 120.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, 1_000_000) == 30.0
    assert parse_retry_after(email.utils.formatdate(5, usegmt=True), 1_000_000) == 0.0
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None


def test_the_back_off_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    assert [backoff.delay(n, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [backoff.delay(n, lambda: 0.999) for n in (1, 5)] == [0.9995, 7.996]
    assert retry_delay(Outcome.retry("429", 3.0), 1, backoff, lambda: 0.0) == 3.0
    assert retry_delay(Outcome.retry("500"), 2, backoff, lambda: 0.0) == 1.0
