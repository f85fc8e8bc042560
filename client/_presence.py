"""The presence cache: the latest known presence of the users an app looks at. Sans-IO.

Fed by `presence` replies and events; bounded, evicting the least recently
updated or read user, since an app only draws the presence of the few users
on screen and the server only sends events for users sharing a channel.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from attrs import define, field

from protocol import UserPresence


@define
class PresenceCache:
    capacity: int = 4096
    _entries: OrderedDict[int, UserPresence] = field(factory=OrderedDict)

    def __attrs_post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be positive, got {self.capacity}")

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user: int) -> UserPresence | None:
        info = self._entries.get(user)
        if info is not None:
            self._entries.move_to_end(user)
        return info

    def update(self, infos: Iterable[UserPresence]) -> None:
        for info in infos:
            self._entries[info.user] = info
            self._entries.move_to_end(info.user)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def users(self) -> tuple[int, ...]:
        return tuple(self._entries)
