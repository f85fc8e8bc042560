"""Snowflake ids: unique across nodes without coordination, ordered by time.

Layout of the 63 bits (the sign bit stays 0, so ids fit a signed 64-bit column):

    | 41 bits: ms since EPOCH_MS | 10 bits: node | 12 bits: counter |

41 bits of milliseconds last 69 years from the epoch; 1024 nodes; 4096 ids per
node per millisecond. Sans-IO: the clock is a parameter.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from attrs import frozen

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
TIME_BITS = 41
NODE_BITS = 10
COUNTER_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
_MAX_COUNTER = (1 << COUNTER_BITS) - 1
_MAX_TIME = (1 << TIME_BITS) - 1


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@frozen
class IdParts:
    ms: int  # ms since the Unix epoch
    node: int
    counter: int


class IdGenerator:
    """`next_id()` returns strictly increasing ids for this node.

    Invariants: ids from one generator strictly increase even if the wall clock
    steps back (time is never read below the last id's), and when 4096 ids are
    taken within one millisecond the generator borrows the next millisecond
    rather than blocking, so the embedded time may run ahead of the wall
    clock by the size of a burst. Ids of different nodes differ in the node bits.
    """

    __slots__ = ("node_id", "_clock", "_last_ms", "_counter")

    def __init__(self, node_id: int, clock: Callable[[], int] = wall_clock_ms) -> None:
        if not 0 <= node_id <= MAX_NODE:
            raise ValueError(f"node_id must be within 0..{MAX_NODE}, not {node_id}")
        self.node_id = node_id
        self._clock = clock
        self._last_ms = -1
        self._counter = 0

    def next_id(self) -> int:
        ms = self._clock() - EPOCH_MS
        if ms < 0:
            raise ValueError("the clock reads before the id epoch (2024-01-01)")
        if ms <= self._last_ms:
            ms = self._last_ms
            self._counter += 1
            if self._counter > _MAX_COUNTER:
                ms += 1
                self._counter = 0
        else:
            self._counter = 0
        if ms > _MAX_TIME:
            raise OverflowError("snowflake time bits exhausted")
        self._last_ms = ms
        return (ms << (NODE_BITS + COUNTER_BITS)) | (self.node_id << COUNTER_BITS) | self._counter

    @staticmethod
    def parts(id_: int) -> IdParts:
        """Split an id back into (unix ms, node, counter)."""
        return IdParts(
            ms=(id_ >> (NODE_BITS + COUNTER_BITS)) + EPOCH_MS,
            node=(id_ >> COUNTER_BITS) & MAX_NODE,
            counter=id_ & _MAX_COUNTER,
        )
