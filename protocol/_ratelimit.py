"""A token bucket on an explicit clock, so it is tested without one."""

from __future__ import annotations

import math

from attrs import define, field

# Float refills can land a hair under a whole token after waiting exactly the
# advertised retry; that hair is forgiven.
_EPSILON = 1e-9


@define
class TokenBucket:
    """Allows `burst` actions at once and `rate` per second sustained.

    Invariant: 0 <= tokens <= burst. The bucket starts full: a device that
    just connected may send its backlog at once.
    """

    rate: float  # tokens added per second
    burst: int  # capacity
    _tokens: float = field(init=False)
    _updated: float | None = field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self._updated is not None:
            # A clock that steps back refills nothing rather than draining.
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now if self._updated is None else max(self._updated, now)

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def full(self, now: float) -> bool:
        """Whether the bucket holds its whole burst: forgetting it now forgives nothing."""
        self._refill(now)
        return self._tokens >= self.burst - _EPSILON

    def retry_after_ms(self, now: float) -> int:
        """Milliseconds until `take` would succeed; 0 when it would now.

        Rounded up, so a client that waits exactly this long is never refused.
        """
        self._refill(now)
        missing = 1.0 - self._tokens
        if missing <= _EPSILON:
            return 0
        return max(1, math.ceil(missing / self.rate * 1000.0))
