"""Throttles for `login` and `register`, decided before any password is hashed.

Sans-IO: every call takes the time (`now`, seconds on any monotonic clock)
and nothing here waits, so the rules are tested without an event loop.

Scrypt is the node's most expensive work (about 170 ms of a core per hash),
so an attempt that the throttles refuse must cost no hash at all: the
caller asks first (`login`, `register`) and is told how long to wait (ms,
for `rate_limited`'s `retry`) or that it may go ahead, which spends the
attempt. Three tables:

- per peer, for logins: a guesser on one address, trying one account or
  many, gets `burst` attempts and then `rate` per second, and past
  `free_failures` failed logins a wait that doubles with every further
  failure, up to `max_backoff`;
- per username, for logins: the same shape with a smaller budget, so
  guessers spread over many addresses still get only a few guesses per
  minute at one account. Its owner's devices that are signed in keep
  working (`auth` is never throttled); a new device of theirs waits like
  everyone while the account is under attack;
- per peer, for registrations: a bucket only.

A successful login clears its username's failures, not its peer's: a
guesser who can log in to an account of their own must not be able to
reset their address's back-off with it. A peer's failures fade
`forget_after` seconds after its last one.

Bounded memory: usernames and addresses are the attacker's to choose, so
each table keeps at most `capacity` keys and forgets the least recently used
beyond that. Forgetting a key resets its budget; flushing a victim's entry
costs an attacker `capacity` attempts of its own, which the per-peer tables
make expensive. IPv6 peers are throttled by their /64, the block one
subscriber usually holds, so an address per attempt buys nothing.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict

from attrs import define, field, frozen

from protocol import TokenBucket

# A wait that ran out a float's hair early has run out (as in TokenBucket).
_EPSILON = 1e-9


@frozen
class Rule:
    """One table's budget: a token bucket, and maybe a back-off on failures."""

    rate: float  # attempts per second, sustained
    burst: int  # attempts at once
    #: Seconds of the first back-off, doubling with each further failure;
    #: 0 for none (failures then cost no more than other attempts).
    backoff: float = 0.0
    #: Failed attempts forgiven before the back-off starts.
    free_failures: int = 0
    max_backoff: float = 60.0
    #: Seconds after the last failure when the failures are forgotten.
    forget_after: float = 900.0


@frozen(kw_only=True)
class ThrottleRules:
    """The defaults, and why.

    Logins are once per device installation (a device keeps its token), so a
    person needs a handful, and an office behind one address a few dozen an
    hour. A guesser at one address gets 20 guesses, then waits 1, 2, 4 ...
    s, up to 5 minutes per guess; spread over many addresses, 5 guesses at
    one account, then up to a minute per guess. Registrations: 10 from one
    address at once, then one every 30 s.
    """

    login_per_peer: Rule = Rule(rate=1.0, burst=20, backoff=1.0, free_failures=20, max_backoff=300.0)
    login_per_username: Rule = Rule(rate=0.2, burst=5, backoff=1.0, free_failures=5, max_backoff=60.0)
    register_per_peer: Rule = Rule(rate=1 / 30, burst=10)
    #: Keys kept per table: about 310 bytes each (measured with tracemalloc,
    #: a full table of 16-character usernames), so 5 MiB per full table.
    capacity: int = 16_384


@define(slots=True)
class _Entry:
    bucket: TokenBucket
    failures: int = 0
    last_failure: float = -math.inf
    blocked_until: float = -math.inf


@define
class Throttle:
    """One rule over a bounded table of keys, least recently used forgotten first."""

    rule: Rule
    capacity: int
    # Invariant: len(_entries) <= capacity; ordered least recently used first.
    _entries: OrderedDict[str, _Entry] = field(init=False, factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._entries)

    def wait_ms(self, key: str, now: float) -> int:
        """Milliseconds before `key` may try again; 0 when it may now."""
        entry = self._entries.get(key)
        if entry is None:
            return 0
        self._forget_failures(entry, now)
        wait = entry.bucket.retry_after_ms(now)
        if entry.blocked_until - now > _EPSILON:
            wait = max(wait, math.ceil((entry.blocked_until - now) * 1000.0))
        return wait

    def take(self, key: str, now: float) -> None:
        """Spend an attempt of `key` (after `wait_ms` said 0)."""
        self._entry(key).bucket.take(now)

    def failed(self, key: str, now: float) -> None:
        rule, entry = self.rule, self._entry(key)
        self._forget_failures(entry, now)
        entry.failures += 1
        entry.last_failure = now
        over = entry.failures - rule.free_failures
        if rule.backoff > 0 and over > 0:
            # The exponent is capped: past max_backoff it changes nothing.
            wait = min(rule.max_backoff, rule.backoff * 2.0 ** min(over - 1, 32))
            entry.blocked_until = max(entry.blocked_until, now + wait)

    def succeeded(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.failures = 0
            entry.blocked_until = -math.inf

    def _entry(self, key: str) -> _Entry:
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            if len(entries) >= self.capacity:
                entries.popitem(last=False)
            entry = entries[key] = _Entry(TokenBucket(rate=self.rule.rate, burst=self.rule.burst))
        else:
            entries.move_to_end(key)
        return entry

    def _forget_failures(self, entry: _Entry, now: float) -> None:
        if entry.failures and now - entry.last_failure >= self.rule.forget_after:
            entry.failures = 0


class AccountThrottles:
    """The three tables, asked together: one refusal spends nothing anywhere."""

    def __init__(self, rules: ThrottleRules) -> None:
        self._login_peer = Throttle(rules.login_per_peer, rules.capacity)
        self._login_name = Throttle(rules.login_per_username, rules.capacity)
        self._register_peer = Throttle(rules.register_per_peer, rules.capacity)

    def login(self, username: str, peer: str, now: float) -> int:
        """0 and the attempt is spent, or the ms to wait before trying again."""
        key = peer_key(peer)
        wait = max(self._login_peer.wait_ms(key, now), self._login_name.wait_ms(username, now))
        if not wait:
            self._login_peer.take(key, now)
            self._login_name.take(username, now)
        return wait

    def login_failed(self, username: str, peer: str, now: float) -> None:
        self._login_peer.failed(peer_key(peer), now)
        self._login_name.failed(username, now)

    def login_succeeded(self, username: str) -> None:
        self._login_name.succeeded(username)

    def register(self, peer: str, now: float) -> int:
        """0 and the attempt is spent, or the ms to wait before trying again."""
        key = peer_key(peer)
        wait = self._register_peer.wait_ms(key, now)
        if not wait:
            self._register_peer.take(key, now)
        return wait


def peer_key(peer: str) -> str:
    """The key a peer address is throttled by: an IPv4 address, or an IPv6 /64.

    An IPv4 address mapped into IPv6 counts as itself; anything that is not
    an IP address (a Unix socket's path) is its own key.
    """
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
