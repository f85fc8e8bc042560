"""Reconnect delays: exponential back-off with full jitter. Sans-IO.

Full jitter (a uniform draw from [0, min(cap, base * 2**attempt)]) spreads a
crowd of clients that lost the same node over the whole window, so they do not
come back in synchronized waves. The random source is injected so that the
schedule is reproducible in tests and in the load generator.
"""

from __future__ import annotations

import random

from attrs import define, field


@define
class Backoff:
    base: float
    cap: float
    rng: random.Random = field(factory=random.Random)
    attempt: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"need 0 < base <= cap, got base={self.base} cap={self.cap}")

    def window(self) -> float:
        """The upper bound of the next delay, before any floor."""
        # min() before the power would overflow: 2**1100 is not a float.
        return min(self.cap, self.base * 2.0 ** min(self.attempt, 64))

    def next_delay(self, floor: float = 0.0) -> float:
        """Seconds to wait before the next attempt; counts the attempt.

        `floor` is a wait the server asked for (`bye.retry`): the jitter goes on
        top of it, so that clients a draining node sends away do not all return
        the moment its hint runs out.
        """
        delay = floor + self.rng.uniform(0.0, self.window())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """A connection proved healthy: the next failure starts from `base` again."""
        self.attempt = 0
