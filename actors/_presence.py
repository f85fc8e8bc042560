"""When a user's presence changes, decided without I/O.

A user is online while at least one device is live. Phones drop and redial
all the time, so going offline is debounced: when the last device goes, the
user stays online for `grace` seconds, and a device that comes back within
it produces no event at all. Events carry the user's state, never a
device's: a second device coming online changes nothing anyone can see.

The caller owns the clock and the timer: it reports attaches, detaches and
the expiry of the deadline this object asks for, and publishes the
`PresenceChange`s it gets back.
"""

from __future__ import annotations

from attrs import define, field, frozen


@frozen
class PresenceChange:
    online: bool
    last: int  # ms since the epoch: when the user was last active


@define
class PresenceDebounce:
    grace_ms: int
    _devices: int = field(init=False, default=0)
    _published_online: bool = field(init=False, default=False)
    _offline_deadline: int | None = field(init=False, default=None)
    _last_active: int = field(init=False, default=0)

    @property
    def online(self) -> bool:
        """What others have been told."""
        return self._published_online

    @property
    def last_active(self) -> int:
        return self._last_active

    @property
    def offline_deadline(self) -> int | None:
        """When `expire` should be called (ms), or None when nothing is pending."""
        return self._offline_deadline

    @property
    def settled(self) -> bool:
        """No device and nothing pending: the state may be dropped."""
        return self._devices == 0 and self._offline_deadline is None

    def attached(self, now: int) -> PresenceChange | None:
        self._devices += 1
        self._last_active = max(self._last_active, now)
        self._offline_deadline = None
        if self._published_online:
            return None  # a second device, or a reconnect within the grace
        self._published_online = True
        return PresenceChange(online=True, last=self._last_active)

    def active(self, now: int) -> None:
        """A device showed activity (any frame)."""
        self._last_active = max(self._last_active, now)

    def detached(self, now: int) -> None:
        if self._devices == 0:
            return
        self._devices -= 1
        self._last_active = max(self._last_active, now)
        if self._devices == 0 and self._published_online:
            self._offline_deadline = now + self.grace_ms

    def expire(self, now: int) -> PresenceChange | None:
        """The timer fired: publish offline if the grace ran out with no device back."""
        deadline = self._offline_deadline
        if deadline is None or now < deadline or self._devices:
            return None
        self._offline_deadline = None
        self._published_online = False
        return PresenceChange(online=False, last=self._last_active)
