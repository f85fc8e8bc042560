"""Request ids and the table of requests awaiting their reply. Sans-IO.

Replies may come in any order, so each one is matched to its request by id.
The table is bounded: the connection admits a new request only while it has
room, so a burst of callers queues at the admission gate, never in here.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from attrs import define, field

W = TypeVar("W")

ID_LIMIT = 2**31
"""Ids run 1 .. ID_LIMIT-1 and then wrap; small ints keep frames short."""


@define
class PendingTable(Generic[W]):
    """Maps the id of each request in flight to whatever waits for its reply (`W`)."""

    capacity: int
    _next: int = 1
    _waiting: dict[int, W] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not 0 < self.capacity < ID_LIMIT:
            raise ValueError(f"capacity must be in 1..{ID_LIMIT - 1}, got {self.capacity}")

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def full(self) -> bool:
        return len(self._waiting) >= self.capacity

    def add(self, waiter: W) -> int:
        """Register a request; returns its id, unique among the requests in flight."""
        if self.full:
            raise OverflowError("too many requests in flight")
        # Terminates: fewer than capacity < ID_LIMIT-1 ids are taken.
        while self._next in self._waiting:
            self._advance()
        request_id = self._next
        self._advance()
        self._waiting[request_id] = waiter
        return request_id

    def get(self, request_id: int) -> W | None:
        """The waiter for a reply, left in the table; None for an id not in flight."""
        return self._waiting.get(request_id)

    def pop(self, request_id: int) -> W | None:
        """The waiter for a reply, removed from the table; None for an id not in flight
        (its caller gave up, e.g. was cancelled, and the late reply is dropped)."""
        return self._waiting.pop(request_id, None)

    def drain(self) -> list[W]:
        """Every waiter, removed: the connection is gone and none will get a reply."""
        waiters = list(self._waiting.values())
        self._waiting.clear()
        return waiters

    def _advance(self) -> None:
        self._next = self._next + 1 if self._next + 1 < ID_LIMIT else 1
