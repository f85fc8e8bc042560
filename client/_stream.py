"""`ChatClient.events()`: the EventQueue with waiting added for the app and the sync workers."""

from __future__ import annotations

import trio
from attrs import define, field

from ._errors import ClientClosed
from ._events import ClientEvent
from ._queue import EventQueue, Notice


@define(eq=False)
class EventStream:
    """An async iterator of `ClientEvent`; ends when the client stops.

    Meant for one consumer: with several, each event goes to one of them.
    """

    _queue: EventQueue
    _readers: trio.lowlevel.ParkingLot = field(factory=trio.lowlevel.ParkingLot)
    _writers: trio.lowlevel.ParkingLot = field(factory=trio.lowlevel.ParkingLot)
    _closed: bool = False
    _error: BaseException | None = None

    def offer(self, event: ClientEvent, *, control: bool) -> bool:
        """Append without waiting (for the reader task); False if the app is too far behind."""
        if self._closed or not self._queue.offer(event, control=control):
            return False
        self._readers.unpark()
        return True

    async def put(self, event: ClientEvent) -> None:
        """Append a data entry, waiting for the app to make room (for the sync workers)."""
        while True:
            if self._closed:
                raise ClientClosed("the event stream is closed")
            if self._queue.has_room:
                break
            await self._writers.park()
        self._queue.offer(event, control=False)
        self._readers.unpark()

    def post(self, notice: Notice) -> None:
        if not self._closed:
            self._queue.post(notice)
            self._readers.unpark()

    def close(self, error: BaseException | None = None) -> None:
        """No more events; the iterator ends after the buffered ones (raising ClientClosed from `error` if given)."""
        self._closed = True
        self._error = error
        self._readers.unpark_all()
        self._writers.unpark_all()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ClientEvent:
        while (event := self._queue.take()) is None:
            if self._closed:
                if self._error is not None:
                    raise ClientClosed(str(self._error)) from self._error
                raise StopAsyncIteration
            await self._readers.park()
        self._writers.unpark()
        return event
