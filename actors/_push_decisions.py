"""When a device gets a push: the user's decision, per device and channel, without I/O.

The user's actor feeds a `PushDecisions` what happens to the user (a message
in one of their channels, an `ack`, a `read`, a device connecting or going,
a target or a level set) and the clock; it answers with `Effect`s for the
pusher (`Push`, `Badge`, `Withdraw`) and says when it next needs the clock
(`wake_at`). It never blocks, reads no clock and does no I/O, so every rule
of when a push goes out is here and is tested without an event loop.

The rules (docs/protocol.rst, "Push"): a device with a push target gets a
push for a message when the channel's level allows it (all; mentions, and
the message mentions the user; none, until its `until`), the sender is not
the user, and the device has no live connection, or has one that has not
`ack`ed the message within the ack time-out. An `ack` of the device, or a
`read` of the user on any device, covering the message cancels it. At most
one push per (device, channel) is pending: later messages update it (the
pusher replaces a pending push with the same key). When the user reads a
channel on another device, a device that was notified for it gets a
low-urgency badge update.

Each (device, channel) is a `_Slot`, in one of four states, named by what
it holds (messages delivered live and waiting for their ack; the seq of the
push last offered):

    state             waiting  pushed   a message           the ack time-out      ack/read up to the last
    idle              -        -        live: waiting       -                     -
                                        not live: notified
    waiting           yes      -        live: waiting       notified              idle
                                        not live: notified
    notified          -        yes      live: both          -                     idle (withdraw / badge)
                                        not live: notified
    both              yes      yes      live: both          notified              idle (withdraw / badge)
                                        not live: notified

("not live: notified" offers a push at once for the newest message, which
covers the ones waiting too.) A slot back in idle is forgotten, and so is a
notified one after `remember` seconds: the badge update a read elsewhere
sends is for devices notified lately, and the memory of having notified a
device is what keeps the user's actor alive, so it must not last forever.

Bounded: slots exist only for devices with a target (at most the device cap)
and channels of the user with something pending; a slot keeps at most
`MAX_WAITING` waiting messages (past that, the newest takes the place of the
last one kept, with that one's earlier time: its time-out can only come
sooner, never later).
"""

from __future__ import annotations

from collections import deque

from attrs import define, field, frozen

from protocol import NotifyLevel
from storage import Notify, Unread

#: Messages a slot remembers waiting for their ack (see the module's docstring).
MAX_WAITING = 64


@frozen(kw_only=True)
class PushPolicy:
    """The node's rules for push: how long an ack may take, how long a push is remembered, previews."""

    #: Seconds a connected device has to `ack` a message before it is pushed anyway.
    ack_timeout: float = 10.0
    #: Seconds a user's actor remembers which devices it notified (for the
    #: badge update a read elsewhere sends them); the actor lives at least
    #: that long after a push, so this is memory per user notified lately.
    remember: float = 3600.0
    #: Whether devices that ask get previews (sender, start of the text), encrypted to them.
    previews: bool = False


@frozen
class Push:
    """Offer `device` a push for `channel`, up to message `seq` (high urgency)."""

    device: int
    channel: int
    seq: int


@frozen
class Badge:
    """Tell `device` that `channel` was read up to `seq` elsewhere: a low-urgency update of its badge."""

    device: int
    channel: int
    seq: int


@frozen
class Withdraw:
    """The push pending for (`device`, `channel`) is no longer wanted, if it has not gone yet."""

    device: int
    channel: int


Effect = Push | Badge | Withdraw


def level_allows(notify: Notify | None, now_ms: int, mentioned: bool) -> bool:
    """Whether a message may push under the user's level for its channel (None: `all`)."""
    level = NotifyLevel.ALL if notify is None else notify.level_at(now_ms)
    return level is NotifyLevel.ALL or (level is NotifyLevel.MENTIONS and mentioned)


@define
class _Slot:
    # (seq, time it was delivered live) of the messages not acked yet, ascending.
    waiting: deque[tuple[int, float]] = field(factory=deque)
    pushed: int = 0  # the seq of the push last offered; 0: none since the last cover
    pushed_at: float = 0.0

    def wait(self, seq: int, now: float) -> None:
        if len(self.waiting) < MAX_WAITING:
            self.waiting.append((seq, now))
        else:
            _, earlier = self.waiting.pop()
            self.waiting.append((seq, earlier))

    def push(self, seq: int, now: float) -> None:
        """A push up to `seq` is offered: it covers every message waiting."""
        self.waiting.clear()
        self.pushed, self.pushed_at = seq, now

    def cover(self, seq: int) -> bool:
        """Drop what `seq` covers; whether that included the push last offered."""
        while self.waiting and self.waiting[0][0] <= seq:
            self.waiting.popleft()
        covered = 0 < self.pushed <= seq
        if covered:
            self.pushed = 0
        return covered

    def due(self, timeout: float, remember: float) -> float | None:
        """When this slot next needs the clock: its first waiting message's
        time-out, or the end of its memory of a push."""
        times = [self.waiting[0][1] + timeout] if self.waiting else []
        if self.pushed:
            times.append(self.pushed_at + remember)
        return min(times, default=None)

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.pushed


@define
class PushDecisions:
    """One user's push decisions; times are seconds of the caller's clock (Trio's),
    except `now_ms`, the wall clock a level's `until` is compared with."""

    user: int
    #: Seconds a live device has to `ack` a message before it is pushed anyway.
    ack_timeout: float
    #: Seconds a notified slot is remembered, for the badge update of a read elsewhere.
    remember: float
    _targets: set[int] = field(factory=set)  # devices with a push target
    _live: set[int] = field(factory=set)  # devices with a live connection
    _levels: dict[int, Notify] = field(factory=dict)  # channel -> level, where one is set
    _slots: dict[tuple[int, int], _Slot] = field(factory=dict)  # (device, channel) -> its slot

    # -- what is known of the user --------------------------------------------------

    def set_target(self, device: int, has_target: bool) -> list[Effect]:
        """The device registered a target, or has none any more (its slots go, withdrawn)."""
        if has_target:
            self._targets.add(device)
            return []
        self._targets.discard(device)
        gone = sorted(key for key in self._slots if key[0] == device)
        effects: list[Effect] = [Withdraw(*key) for key in gone if self._slots[key].pushed]
        for key in gone:
            del self._slots[key]
        return effects

    def set_level(self, channel: int, notify: Notify | None) -> None:
        """The user's level for the channel (None: back to `all`); it decides the messages after it."""
        if notify is None:
            self._levels.pop(channel, None)
        else:
            self._levels[channel] = notify

    def set_live(self, device: int, live: bool) -> list[Effect]:
        """Whether the device has a live connection now.

        A device that connects will `sync`: pushes still queued for it are
        withdrawn (a reconnect supersedes them), and its slots stay, so that
        its acks, or a read elsewhere, settle them as before.
        """
        was_live = device in self._live
        if not live:
            self._live.discard(device)
            return []
        self._live.add(device)
        if was_live:
            return []
        return [Withdraw(*key) for key, slot in sorted(self._slots.items()) if key[0] == device and slot.pushed]

    # -- what happens ------------------------------------------------------------------

    def posted(
        self, channel: int, seq: int, sender: int, mentions: frozenset[int], now: float, now_ms: int
    ) -> list[Effect]:
        """Message `seq` of `channel` was delivered to the user's live connections."""
        if sender == self.user or not level_allows(self._levels.get(channel), now_ms, self.user in mentions):
            return []
        effects: list[Effect] = []
        for device in sorted(self._targets):
            slot = self._slots.setdefault((device, channel), _Slot())
            if device in self._live:
                slot.wait(seq, now)
            else:
                slot.push(seq, now)
                effects.append(Push(device, channel, seq))
        return effects

    def acked(self, device: int, channel: int, seq: int) -> list[Effect]:
        """The device holds `channel`'s messages up to `seq`: nothing of them is pushed to it."""
        slot = self._slots.get((device, channel))
        if slot is None:
            return []
        effects: list[Effect] = [Withdraw(device, channel)] if slot.cover(seq) else []
        self._forget_if_idle(device, channel)
        return effects

    def read(self, channel: int, seq: int, by: int) -> list[Effect]:
        """The user read `channel` up to `seq` on device `by`: every device is covered.

        A device notified for it, other than the reader, gets a badge update
        (which replaces its push if that is still pending); the reader's own
        push, if pending, is withdrawn.
        """
        effects: list[Effect] = []
        for device in sorted(device for device, slot_channel in self._slots if slot_channel == channel):
            if self._slots[(device, channel)].cover(seq):
                effects.append(Withdraw(device, channel) if device == by else Badge(device, channel, seq))
            self._forget_if_idle(device, channel)
        return effects

    def tick(self, now: float) -> list[Effect]:
        """The clock: pushes for messages whose ack did not come in time; old memories go."""
        effects: list[Effect] = []
        for (device, channel), slot in sorted(self._slots.items()):
            if slot.pushed and slot.pushed_at + self.remember <= now:
                slot.pushed = 0  # forgotten: a read elsewhere sends this device nothing now
            if slot.waiting and slot.waiting[0][1] + self.ack_timeout <= now:
                newest = slot.waiting[-1][0]
                slot.push(newest, now)
                effects.append(Push(device, channel, newest))
            self._forget_if_idle(device, channel)
        return effects

    # -- what the actor asks -------------------------------------------------------------

    @property
    def wake_at(self) -> float | None:
        """When `tick` has something to do next; None: nothing pending."""
        times = [due for slot in self._slots.values() if (due := slot.due(self.ack_timeout, self.remember)) is not None]
        return min(times, default=None)

    @property
    def settled(self) -> bool:
        """Nothing pending or remembered: the actor may go."""
        return not self._slots

    def _forget_if_idle(self, device: int, channel: int) -> None:
        if self._slots[(device, channel)].idle:
            del self._slots[(device, channel)]


@define
class UnreadCounts:
    """The user's badge: the sum over their channels of last seq minus read marker.

    Loaded once from the store (`Store.unread`, heads and markers, never
    history), then kept from what the user's actor sees: each message's seq
    and each of the user's reads. Both only ever move forward, so taking
    the maximum makes a repeated or late notice harmless, and a notice lost
    on the way (a full mailbox) is made good by the channel's next message.
    Before it is loaded, what the actor sees needs no keeping: the load
    reads it from the store, where every message and marker is stored
    before anyone is told of it.
    """

    _positions: dict[int, Unread] | None = None

    @property
    def loaded(self) -> bool:
        return self._positions is not None

    def load(self, positions: dict[int, Unread]) -> None:
        self._positions = dict(positions)

    def posted(self, channel: int, seq: int) -> None:
        if self._positions is not None:
            known = self._positions.get(channel, Unread(0, 0))
            self._positions[channel] = Unread(max(known.last, seq), known.read)

    def read(self, channel: int, seq: int) -> None:
        if self._positions is not None:
            known = self._positions.get(channel, Unread(seq, 0))
            self._positions[channel] = Unread(max(known.last, seq), max(known.read, seq))

    @property
    def total(self) -> int:
        return sum(position.count for position in (self._positions or {}).values())
