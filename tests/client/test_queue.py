"""The app's event buffer: data bounded by limit, control events by limit + headroom, one notice."""

from __future__ import annotations

import pytest

from client import ClientEvent, Disconnected, Message, ReceiptEvent, Reconnected, TypingEvent
from client._queue import EventQueue


def msg(seq: int) -> Message:
    return Message(1, seq, 2, 3, "b", 0, f"c{seq}")


def drain(queue: EventQueue) -> list[ClientEvent]:
    out = []
    while (event := queue.take()) is not None:
        out.append(event)
    return out


def test_data_is_refused_at_the_limit_and_control_events_get_headroom() -> None:
    queue = EventQueue(limit=2, headroom=1)
    assert queue.offer(msg(1), control=False)
    assert queue.offer(msg(2), control=False)
    assert not queue.has_room
    assert not queue.offer(TypingEvent(1, 2), control=False)
    assert queue.offer(ReceiptEvent(1, 2, 2), control=True)
    assert not queue.offer(ReceiptEvent(1, 2, 3), control=True)
    assert drain(queue) == [msg(1), msg(2), ReceiptEvent(1, 2, 2)]


def test_notices_are_never_refused_and_do_not_take_room() -> None:
    queue = EventQueue(limit=1, headroom=0)
    assert queue.offer(msg(1), control=False)
    queue.post(Disconnected("gone", 1.0))
    assert len(queue) == 2
    assert not queue.has_room
    assert queue.take() == msg(1)
    assert queue.has_room  # the waiting notice does not count
    assert queue.offer(msg(2), control=False)
    assert drain(queue) == [Disconnected("gone", 1.0), msg(2)]


def test_a_newer_notice_replaces_an_unread_one_at_the_end() -> None:
    queue = EventQueue(limit=4, headroom=0)
    queue.post(Disconnected("gone", 1.0))
    queue.offer(msg(1), control=False)
    queue.post(Reconnected(()))
    queue.offer(msg(2), control=False)
    assert drain(queue) == [msg(1), Reconnected(()), msg(2)]


def test_a_read_notice_is_not_replaced() -> None:
    queue = EventQueue(limit=4, headroom=0)
    queue.post(Disconnected("gone", 1.0))
    assert queue.take() == Disconnected("gone", 1.0)
    queue.post(Reconnected(()))
    assert drain(queue) == [Reconnected(())]


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        EventQueue(limit=0, headroom=0)
