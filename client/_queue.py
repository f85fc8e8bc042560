"""The app's event buffer: bounded, with room kept for events that cannot be re-fetched. Sans-IO.

Three kinds of entries, three rules when the app falls behind:

- data (messages, typing): admitted while fewer than `limit` entries wait.
  A message refused here is not lost: it becomes a gap that a sync worker
  fetches later, waiting for room. A typing notice refused is dropped: it is
  stale by the time the app could see it.
- control (channel, receipt, presence, bye): these cannot be fetched again,
  so they may also use `headroom` entries past `limit`; when even that is
  full, the client drops its connection and recovers like after any
  disconnect (see ChatClient).
- notices (Disconnected, Reconnected): never refused, never more than one
  waiting: a new notice replaces an unread one, since only the latest
  connection state matters to an app that has not looked yet.
"""

from __future__ import annotations

from collections import deque

from attrs import define, field

from ._events import ClientEvent, Disconnected, Reconnected

Notice = Disconnected | Reconnected


@define
class EventQueue:
    limit: int
    headroom: int
    _items: deque[ClientEvent] = field(factory=deque)
    _notice: Notice | None = None  # the one notice among _items, if any

    def __attrs_post_init__(self) -> None:
        if self.limit < 1 or self.headroom < 0:
            raise ValueError(f"need limit >= 1 and headroom >= 0, got {self.limit}, {self.headroom}")

    def __len__(self) -> int:
        return len(self._items)

    def _counted(self) -> int:
        return len(self._items) - (self._notice is not None)

    @property
    def has_room(self) -> bool:
        """Whether a data entry would be admitted."""
        return self._counted() < self.limit

    def offer(self, event: ClientEvent, *, control: bool) -> bool:
        """Append `event` if its kind has room; False if it was refused."""
        if self._counted() >= self.limit + (self.headroom if control else 0):
            return False
        self._items.append(event)
        return True

    def post(self, notice: Notice) -> None:
        if self._notice is not None:
            self._items.remove(self._notice)
        self._notice = notice
        self._items.append(notice)

    def take(self) -> ClientEvent | None:
        if not self._items:
            return None
        event = self._items.popleft()
        if event is self._notice:
            self._notice = None
        return event
