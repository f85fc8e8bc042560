"""The login and register throttles, on a clock the test moves by hand (no event loop)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors._throttle import AccountThrottles, Rule, Throttle, ThrottleRules, peer_key

RULES = ThrottleRules(
    login_per_peer=Rule(rate=1.0, burst=4, backoff=1.0, free_failures=3, max_backoff=8.0, forget_after=100.0),
    login_per_username=Rule(rate=0.5, burst=2, backoff=1.0, free_failures=1, max_backoff=4.0, forget_after=100.0),
    register_per_peer=Rule(rate=0.1, burst=2),
    capacity=100,
)


def attempts(throttles: AccountThrottles, username: str, peer: str, now: float, count: int) -> list[int]:
    return [throttles.login(username, peer, now) for _ in range(count)]


def test_a_username_gets_its_burst_then_waits_for_its_rate() -> None:
    throttles = AccountThrottles(RULES)
    assert attempts(throttles, "alice", "10.0.0.1", 0.0, 3) == [0, 0, 2000]
    # Another address does not help: the account's own bucket is empty.
    assert throttles.login("alice", "10.0.0.2", 0.0) == 2000
    assert throttles.login("alice", "10.0.0.2", 2.0) == 0


def test_an_address_gets_its_burst_whichever_accounts_it_tries() -> None:
    throttles = AccountThrottles(RULES)
    waits = [throttles.login(f"user{i}", "10.0.0.1", 0.0) for i in range(5)]
    assert waits == [0, 0, 0, 0, 1000]
    assert throttles.login("someone", "10.0.0.9", 0.0) == 0


def test_failures_past_the_free_ones_double_the_wait_up_to_the_cap() -> None:
    throttle = Throttle(Rule(rate=1000.0, burst=1000, backoff=1.0, free_failures=2, max_backoff=8.0), capacity=10)
    waits = []
    now = 0.0
    for _ in range(7):
        assert throttle.wait_ms("k", now) == 0
        throttle.take("k", now)
        throttle.failed("k", now)
        wait = throttle.wait_ms("k", now)
        waits.append(wait)
        now += wait / 1000
    assert waits == [0, 0, 1000, 2000, 4000, 8000, 8000]


def test_a_success_clears_the_accounts_back_off_but_not_the_addresses() -> None:
    throttles = AccountThrottles(RULES)
    for now in (0.0, 10.0, 20.0, 30.0):
        assert throttles.login("alice", "10.0.0.1", now) == 0
        throttles.login_failed("alice", "10.0.0.1", now)
    # alice: 4 failures, 1 free: back-off 4 s (capped). The address: 4
    # failures, 3 free: back-off 1 s.
    assert throttles.login("alice", "10.0.0.2", 30.0) == 4000
    assert throttles.login("bob", "10.0.0.1", 30.0) == 1000
    assert throttles.login("alice", "10.0.0.2", 34.0) == 0
    throttles.login_succeeded("alice")
    throttles.login_failed("carol", "10.0.0.1", 34.0)
    # The address's failures stay (5 now: 2 s); alice's are gone.
    assert throttles.login("bob", "10.0.0.1", 34.0) == 2000
    assert throttles.login("alice", "10.0.0.3", 36.0) == 0


def test_failures_are_forgotten_after_a_quiet_spell() -> None:
    rule = Rule(rate=1000.0, burst=1000, backoff=1.0, free_failures=1, forget_after=100.0)
    throttle = Throttle(rule, capacity=10)
    throttle.failed("k", 0.0)
    throttle.failed("k", 0.0)
    assert throttle.wait_ms("k", 0.0) == 1000
    throttle.failed("k", 99.0)  # the third: 2 s
    assert throttle.wait_ms("k", 100.0) == 1000
    throttle.failed("k", 199.0)  # 100 s after the last: this is the first again
    assert throttle.wait_ms("k", 199.0) == 0


def test_a_refusal_spends_nothing_in_the_other_table() -> None:
    throttles = AccountThrottles(RULES)
    assert attempts(throttles, "alice", "10.0.0.1", 0.0, 2) == [0, 0]
    # Refused by alice's bucket: the address's bucket (4) must not pay for it.
    assert attempts(throttles, "alice", "10.0.0.1", 0.0, 10) == [2000] * 10
    assert [throttles.login(f"user{i}", "10.0.0.1", 0.0) for i in range(3)] == [0, 0, 1000]


def test_registrations_from_one_address_are_a_bucket() -> None:
    throttles = AccountThrottles(RULES)
    assert [throttles.register("10.0.0.1", 0.0) for _ in range(3)] == [0, 0, 10_000]
    assert throttles.register("10.0.0.2", 0.0) == 0
    assert throttles.register("10.0.0.1", 10.0) == 0
    # Logins from that address are another budget.
    assert throttles.login("alice", "10.0.0.1", 10.0) == 0


def test_a_flood_of_keys_keeps_the_table_at_its_capacity() -> None:
    throttle = Throttle(Rule(rate=1.0, burst=1, backoff=1.0, free_failures=0), capacity=1000)
    throttle.failed("victim", 0.0)
    for i in range(200_000):
        throttle.failed(f"attacker{i}", 0.0)
        if i % 500 == 0:
            # Still being tried: its entry is recent, and stays.
            throttle.take("victim", 0.0)
        assert len(throttle) <= 1000
    assert len(throttle) == 1000
    assert throttle.wait_ms("victim", 0.0) == 1000
    # The oldest attackers are forgotten: a fresh budget.
    assert throttle.wait_ms("attacker0", 0.0) == 0


def test_ipv6_peers_are_throttled_by_their_64_and_mapped_ipv4_as_itself() -> None:
    assert peer_key("2001:db8:1:2::1") == peer_key("2001:db8:1:2:ffff::7") == "2001:db8:1:2::/64"
    assert peer_key("2001:db8:1:3::1") != peer_key("2001:db8:1:2::1")
    assert peer_key("::ffff:192.0.2.7") == peer_key("192.0.2.7") == "192.0.2.7"
    assert peer_key("/run/chat.sock") == "/run/chat.sock"
    throttles = AccountThrottles(RULES)
    waits = [throttles.login(f"user{i}", f"2001:db8::{i:x}", 0.0) for i in range(5)]
    assert waits == [0, 0, 0, 0, 1000]


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob"]),
            st.sampled_from(["10.0.0.1", "10.0.0.2"]),
            st.booleans(),  # the attempt fails
            st.floats(min_value=0.0, max_value=30.0),  # seconds before it
        ),
        max_size=60,
    )
)
def test_waiting_the_advertised_retry_always_gets_an_attempt(steps: list[tuple[str, str, bool, float]]) -> None:
    throttles = AccountThrottles(RULES)
    now = 0.0
    for username, peer, fails, gap in steps:
        now += gap
        wait = throttles.login(username, peer, now)
        if wait:
            now += wait / 1000
            assert throttles.login(username, peer, now) == 0
        if fails:
            throttles.login_failed(username, peer, now)
        else:
            throttles.login_succeeded(username)
