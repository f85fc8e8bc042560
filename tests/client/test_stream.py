"""events(): the app's buffer with waiting; no network, Trio only for the waiting."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from client import BadToken, ClientClosed, Disconnected, Message
from client._queue import EventQueue
from client._stream import EventStream


def msg(seq: int) -> Message:
    return Message(1, seq, 2, 3, "b", 0, f"c{seq}")


async def test_a_sync_worker_waits_for_room_and_the_reader_never_does() -> None:
    stream = EventStream(EventQueue(limit=1, headroom=0))
    assert stream.offer(msg(1), control=False)
    assert not stream.offer(msg(2), control=False)  # the reader is refused, not blocked
    put_done = trio.Event()

    async def worker() -> None:
        await stream.put(msg(2))
        put_done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        await trio.testing.wait_all_tasks_blocked()
        assert not put_done.is_set()
        assert await stream.__anext__() == msg(1)
        await put_done.wait()
    assert await stream.__anext__() == msg(2)


async def test_iteration_drains_then_ends_when_closed() -> None:
    stream = EventStream(EventQueue(limit=4, headroom=0))
    stream.offer(msg(1), control=False)
    stream.post(Disconnected("gone", 0.5))
    stream.close()
    assert [event async for event in stream] == [msg(1), Disconnected("gone", 0.5)]
    assert not stream.offer(msg(2), control=False)
    with pytest.raises(ClientClosed):
        await stream.put(msg(2))


async def test_a_refused_credential_ends_iteration_with_its_cause() -> None:
    stream = EventStream(EventQueue(limit=4, headroom=0))
    refused = BadToken("bad_token", "revoked")
    stream.close(refused)
    with pytest.raises(ClientClosed) as caught:
        await stream.__anext__()
    assert caught.value.__cause__ is refused


async def test_closing_wakes_a_waiting_consumer_and_a_waiting_worker() -> None:
    stream = EventStream(EventQueue(limit=1, headroom=0))
    stream.offer(msg(1), control=False)
    outcomes: list[str] = []

    async def worker() -> None:
        with pytest.raises(ClientClosed):
            await stream.put(msg(2))
        outcomes.append("worker")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker)
        await trio.testing.wait_all_tasks_blocked()
        stream.close()
    assert outcomes == ["worker"]
    assert [event async for event in stream] == [msg(1)]
