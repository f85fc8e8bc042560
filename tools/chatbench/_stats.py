"""Numbers from raw samples: percentiles, CDF points, rates over time.

Everything is computed from every sample the workers recorded (numpy's
default linear interpolation between order statistics); nothing is averaged
from per-worker summaries, which would hide the tail.
"""

from __future__ import annotations

from collections.abc import Iterable
from array import array

import numpy as np

#: The probabilities at which a latency CDF is kept in the JSON and plotted.
CDF_POINTS = np.concatenate([np.linspace(0.0, 0.99, 100), [0.995, 0.999, 1.0]])

#: Width of one bucket of a rate-over-time series, seconds.
RATE_BUCKET = 0.1


def merged(parts: Iterable[array]) -> np.ndarray:
    """Worker arrays of int64 nanoseconds as one float array."""
    arrays = [np.frombuffer(part, dtype=np.int64) for part in parts if len(part)]
    return np.concatenate(arrays).astype(np.float64) if arrays else np.empty(0)


def latency_summary(samples_ns: np.ndarray) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds; empty when there are no samples."""
    if samples_ns.size == 0:
        return {}
    p50, p90, p99 = np.percentile(samples_ns, [50, 90, 99]) / 1e6
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(samples_ns.max() / 1e6)}


def cdf_ms(samples_ns: np.ndarray) -> list[float]:
    """Latency in ms at each of CDF_POINTS."""
    if samples_ns.size == 0:
        return []
    return [float(v) for v in np.quantile(samples_ns, CDF_POINTS) / 1e6]


def rate_series(arrivals_ns: np.ndarray, start_ns: int, end_ns: int) -> list[float]:
    """Events per second in each RATE_BUCKET of [start, end)."""
    buckets = max(1, int(round((end_ns - start_ns) / 1e9 / RATE_BUCKET)))
    counts, _ = np.histogram(arrivals_ns, bins=buckets, range=(start_ns, end_ns))
    width = (end_ns - start_ns) / 1e9 / buckets
    return [float(c / width) for c in counts]
