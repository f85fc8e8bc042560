"""What a provider's answer means, and when to try again: decided without I/O.

Each provider maps its HTTP answer to an `Outcome` (sent, gone, retry,
failed); `retry_delay` turns a retryable one into the wait before the next
try: the provider's `Retry-After` when it gave one, else a jittered
exponential back-off, so that a thousand pushes failing together do not
come back together.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Callable

from attrs import frozen

from ._api import Failure


class Verdict(enum.Enum):
    SENT = "sent"  # the provider took it
    GONE = "gone"  # the target is dead: the node removes it
    RETRY = "retry"  # a transient failure (429, 5xx, network): try again later
    FAILED = "failed"  # not delivered, and trying again would not help


@frozen
class Outcome:
    verdict: Verdict
    failure: Failure | None = None  # with FAILED
    retry_after: float | None = None  # with RETRY: seconds the provider asked us to wait
    detail: str = ""  # the provider's reason, for the log

    @classmethod
    def sent(cls) -> Outcome:
        return cls(Verdict.SENT)

    @classmethod
    def gone(cls, detail: str) -> Outcome:
        return cls(Verdict.GONE, detail=detail)

    @classmethod
    def retry(cls, detail: str, retry_after: float | None = None) -> Outcome:
        return cls(Verdict.RETRY, retry_after=retry_after, detail=detail)

    @classmethod
    def failed(cls, failure: Failure, detail: str) -> Outcome:
        return cls(Verdict.FAILED, failure=failure, detail=detail)


def parse_retry_after(value: str | None, wall_now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (RFC 9110 10.2.3), or None if absent or unreadable.

    It is either delay-seconds or an HTTP-date; `wall_now` is the wall clock
    (seconds since the epoch) to measure a date from. A date in the past
    means "now".
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - wall_now)


@frozen
class Backoff:
    """Exponential back-off with jitter: try n waits about first * 2**(n-1) seconds, up to `cap`."""

    first: float = 1.0
    cap: float = 60.0

    def delay(self, tries: int, uniform: Callable[[], float]) -> float:
        """The wait after `tries` failed tries: in the upper half of the step (`uniform` in [0, 1))."""
        step = min(self.cap, self.first * math.pow(2.0, tries - 1))
        return step / 2 + uniform() * step / 2


def retry_delay(outcome: Outcome, tries: int, backoff: Backoff, uniform: Callable[[], float]) -> float:
    """How long to wait before trying again after a RETRY outcome."""
    if outcome.retry_after is not None:
        return outcome.retry_after
    return backoff.delay(tries, uniform)


def transient(status: int, retry_after: str | None, wall_now: float) -> Outcome | None:
    """The retry every provider agrees on: 429 and 5xx, after `Retry-After` when it says; else None."""
    if status == 429 or 500 <= status <= 599:
        return Outcome.retry(f"HTTP {status}", parse_retry_after(retry_after, wall_now))
    return None
