"""Counting connections per peer address, and the descriptor budget: no event loop, no sockets."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors._admission import (
    DESCRIPTOR_FLOOR,
    PeerCounts,
    PeerRefused,
    PeerTicket,
    connection_budget,
    raise_descriptor_limit,
)
from actors._throttle import Rule


def ticket(counts: PeerCounts, key: str, now: float = 0.0) -> PeerTicket:
    opened = counts.open(key, now)
    assert isinstance(opened, PeerTicket), opened
    return opened


def test_handshakes_in_progress_are_capped_per_address_and_others_are_not_affected() -> None:
    counts = PeerCounts(max_handshakes=2, max_unauthenticated=10)
    ticket(counts, "10.0.0.1"), ticket(counts, "10.0.0.1")
    assert counts.open("10.0.0.1", 0.0) == PeerRefused("handshakes", 2)
    ticket(counts, "10.0.0.2")


def test_a_finished_handshake_frees_its_slot_but_still_counts_as_unauthenticated() -> None:
    counts = PeerCounts(max_handshakes=1, max_unauthenticated=2)
    first = ticket(counts, "10.0.0.1")
    first.handshaken()
    second = ticket(counts, "10.0.0.1")
    second.handshaken()
    assert (counts.handshakes("10.0.0.1"), counts.unauthenticated("10.0.0.1")) == (0, 2)
    assert counts.open("10.0.0.1", 0.0) == PeerRefused("unauthenticated", 2)


def test_an_authenticated_connection_counts_no_more_against_its_address() -> None:
    counts = PeerCounts(max_handshakes=1, max_unauthenticated=1)
    device = ticket(counts, "10.0.0.1")
    device.handshaken()
    device.authenticated()
    ticket(counts, "10.0.0.1")


def test_closing_releases_whatever_the_connection_held_once() -> None:
    counts = PeerCounts(max_handshakes=5, max_unauthenticated=5)
    in_handshake, unauthenticated, authenticated = (ticket(counts, "10.0.0.1") for _ in range(3))
    unauthenticated.handshaken()
    authenticated.handshaken()
    authenticated.authenticated()
    for held in (in_handshake, unauthenticated, authenticated):
        held.close()
        held.close()
        held.handshaken()  # late steps change nothing
    assert (counts.handshakes("10.0.0.1"), counts.unauthenticated("10.0.0.1")) == (0, 0)


def test_an_address_with_nothing_open_holds_no_memory() -> None:
    counts = PeerCounts(max_handshakes=5, max_unauthenticated=5)
    for address in range(100):
        ticket(counts, f"10.0.0.{address}").close()
    assert counts == PeerCounts(max_handshakes=5, max_unauthenticated=5)


steps = st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["open", "handshaken", "authenticated", "close"])))


@given(steps)
def test_the_counts_are_always_those_of_the_tickets_in_each_stage(program: list[tuple[int, str]]) -> None:
    counts = PeerCounts(max_handshakes=3, max_unauthenticated=5)
    tickets: list[PeerTicket] = []
    for which, step in program:
        if step == "open":
            opened = counts.open("10.0.0.1", 0.0)
            if isinstance(opened, PeerTicket):
                tickets.append(opened)
        elif tickets:
            getattr(tickets[which % len(tickets)], step)()
        stages = [t.stage.value for t in tickets]
        assert counts.handshakes("10.0.0.1") == stages.count("handshake") <= 3
        assert counts.unauthenticated("10.0.0.1") == stages.count("handshake") + stages.count("unauthenticated") <= 5


def test_an_address_past_its_violations_is_refused_until_they_refill_and_others_are_not() -> None:
    counts = PeerCounts(max_handshakes=100, max_unauthenticated=100, violation_rule=Rule(rate=1.0, burst=3))
    for _ in range(3):
        ticket(counts, "10.0.0.1").violated(0.0)
    assert counts.open("10.0.0.1", 0.0) == PeerRefused("violations", 3)
    ticket(counts, "10.0.0.2")
    # One violation's worth refilled a second later: one more connection, no more.
    ticket(counts, "10.0.0.1", 1.0).violated(1.0)
    assert counts.open("10.0.0.1", 1.0) == PeerRefused("violations", 3)


def test_a_violation_after_auth_counts_against_the_device_not_its_address() -> None:
    counts = PeerCounts(max_handshakes=100, max_unauthenticated=100, violation_rule=Rule(rate=1.0, burst=1))
    device = ticket(counts, "10.0.0.1")
    device.handshaken()
    device.authenticated()
    device.violated(0.0)
    ticket(counts, "10.0.0.1")


def test_the_budget_leaves_a_reserve_of_descriptors_and_never_exceeds_the_configured_cap() -> None:
    assert connection_budget(100_000, 20_000) == 18_000
    assert connection_budget(100_000, 1024) == 1024 - 102
    assert connection_budget(100_000, 512) == 512 - DESCRIPTOR_FLOOR
    assert connection_budget(500, 20_000) == 500
    assert connection_budget(100_000, None) == 100_000
    assert connection_budget(100_000, 10) == 1


@pytest.fixture
def lowered_soft_limit() -> Iterator[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_open_files_limit_is_raised_to_the_hard_one(lowered_soft_limit: int) -> None:
    assert raise_descriptor_limit() == lowered_soft_limit
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (lowered_soft_limit, lowered_soft_limit)
