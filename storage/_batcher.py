"""Batching by leadership: work queued while a batch is in flight forms the next.

The embedded store hands calls to its one worker thread and commits appends
this way. Whoever submits to an idle batcher leads: it runs the batch, then
appoints the first submitter waiting behind it to lead the next one and
returns. No one leads twice in a row, so under a steady stream of work every
submitter returns after at most two batches instead of one leader serving
everyone else's work for as long as it keeps arriving.

A batch may also stop short (the embedded store's hop once its results weigh
enough): the payloads it left go back to the front of the queue, in order,
and the first of them leads the next batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

P = TypeVar("P")


class _Entry(Generic[P]):
    __slots__ = ("payload", "woken", "ran")

    def __init__(self, payload: P) -> None:
        self.payload = payload
        self.woken = trio.Event()  # its batch ran, or it is to lead the next
        self.ran = False


class Batcher(Generic[P]):
    def __init__(self, run: Callable[[list[P]], Awaitable[int]]) -> None:
        """`run(payloads)` does the work of a prefix of `payloads` (at least
        one), records each one's outcome in the payload itself and returns how
        many it did; it must not raise."""
        self._run = run
        self._queue: list[_Entry[P]] = []
        self._busy = False  # a batch is running or a leader is appointed

    async def submit(self, payload: P) -> None:
        """Return once the batch holding `payload` has run.

        Cancelled before its batch started, the payload is never run; once
        its batch started, the cancel lands after the batch finished.
        """
        entry = _Entry(payload)
        self._queue.append(entry)
        if self._busy:
            try:
                await entry.woken.wait()
            except trio.Cancelled:
                if entry in self._queue:  # not run, and now never will be
                    self._queue.remove(entry)
                    if entry.woken.is_set():  # it was appointed: pass that on
                        self._appoint_next()
                    raise
                with trio.CancelScope(shield=True):
                    await entry.woken.wait()
                raise
            if entry.ran:
                return
        self._busy = True
        # Shielded: the submitters queued behind depend on this batch ending.
        with trio.CancelScope(shield=True):
            await self._lead()

    async def _lead(self) -> None:
        batch, self._queue = self._queue, []
        done = len(batch)
        try:
            ran = await self._run([entry.payload for entry in batch])
            assert 0 < ran <= len(batch), f"a batch of {len(batch)} did {ran}"
            done = ran
        finally:
            for entry in batch[:done]:
                entry.ran = True
                entry.woken.set()
            self._queue[:0] = batch[done:]
            self._appoint_next()

    def _appoint_next(self) -> None:
        if self._queue:
            self._queue[0].woken.set()
        else:
            self._busy = False
