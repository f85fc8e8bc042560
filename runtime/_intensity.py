"""OTP restart intensity: more than `intensity` restarts within `period` seconds is too many."""

from __future__ import annotations

from collections import deque


class RestartIntensity:
    """Sliding window of restart times. Sans-IO: the caller passes the clock's `now`.

    Bounded: at most `intensity + 1` timestamps are ever kept.
    """

    __slots__ = ("intensity", "period", "_times")

    def __init__(self, intensity: int, period: float) -> None:
        if intensity < 0 or period <= 0:
            raise ValueError("intensity must be >= 0 and period > 0")
        self.intensity = intensity
        self.period = period
        self._times: deque[float] = deque()

    def add(self, now: float) -> bool:
        """Record one restart at `now`; True if that exceeds the intensity (give up)."""
        times = self._times
        times.append(now)
        while now - times[0] >= self.period:
            times.popleft()
        if len(times) > self.intensity:
            times.clear()
            return True
        return False

    def reset(self) -> None:
        self._times.clear()
