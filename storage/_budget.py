"""The rule both stores cut a byte-budgeted read by."""

from __future__ import annotations

from collections.abc import Iterable


def prefix_within(sizes: Iterable[int], max_bytes: int) -> int:
    """How many of these body sizes, in order, fit `max_bytes` together: at
    least one, so that a read always makes progress. Lazy: the sizes after
    the first that does not fit are never asked for."""
    spent = count = 0
    for size in sizes:
        spent += size
        if count and spent > max_bytes:
            break
        count += 1
    return count
