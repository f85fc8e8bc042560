"""Per-channel cursors: which messages the app has, which a sync must fetch. Sans-IO.

A message reaches the app by one of two paths: live (`msg` events, handled in
the connection's reader, which must never wait) or fetched (`sync` pages,
handled by sync workers, which may wait for the app). The tracker makes both
paths deliver each channel's messages exactly once and in seq order:

- A channel's cursor is the highest seq such that 1..cursor were all handed
  to the app or sent by this client (whose own messages the app already has).
- Live delivery is allowed only of cursor + 1 and only while no sync worker
  owns the channel; anything else live is a duplicate (dropped) or a gap (the
  channel goes "behind" and a worker will claim it and fetch from the cursor).
- A claimed channel is delivered by its one worker only, page after page,
  until nothing is known beyond the cursor.

Nothing here grows with traffic: state is per channel the user is in, and the
own-seq set per channel is capped.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from attrs import define, field

from protocol import ChannelInfo, Message


class Verdict(enum.Enum):
    DELIVER = "deliver"  # hand it to the app now, then report delivered() or undelivered()
    SKIP = "skip"  # the app has it already, or this client sent it
    FETCH = "fetch"  # a sync worker will fetch it in order; see claim()


@define
class _Channel:
    # Invariant: cursor <= known.
    cursor: int
    known: int  # highest seq known to exist
    claimed: bool = False  # a sync worker owns delivery
    # Seqs this client sent that lie beyond cursor + 1; they are skipped when the cursor gets there.
    own: set[int] = field(factory=set)


@define
class CursorTracker:
    """Cursor and gap state of every channel of the user.

    `own_limit` caps the own seqs remembered per channel: past it the oldest is
    forgotten, and that message comes back through sync like anyone else's.
    """

    own_limit: int = 1024
    device: int | None = None  # this client's device, once authenticated
    _channels: dict[int, _Channel] = field(factory=dict)
    # Ordered set of channels a worker should claim. Invariant: a channel is in
    # it iff known > cursor and it is unclaimed, except between an on_live()
    # that said DELIVER and the delivered()/undelivered() that must follow.
    _behind: dict[int, None] = field(factory=dict)
    # (channel, cid) of this client's sends awaiting their reply, with a count
    # for the rare app that sends one cid from two tasks at once.
    _sending: dict[tuple[int, str], int] = field(factory=dict)

    @classmethod
    def starting_at(cls, cursors: Mapping[int, int], own_limit: int = 1024) -> CursorTracker:
        """A tracker resuming from cursors the app persisted (see `snapshot`)."""
        tracker = cls(own_limit=own_limit)
        for channel, seq in cursors.items():
            tracker._channels[channel] = _Channel(cursor=seq, known=seq)
        return tracker

    def snapshot(self) -> dict[int, int]:
        return {channel: state.cursor for channel, state in self._channels.items()}

    def cursor(self, channel: int) -> int:
        state = self._channels.get(channel)
        return 0 if state is None else state.cursor

    @property
    def wants_sync(self) -> bool:
        return bool(self._behind)

    # -- what the node says exists ------------------------------------------

    def observe(self, channels: Iterable[ChannelInfo]) -> None:
        """The node's channel list after (re)connecting: note how far each channel goes.

        Channels missing from the list are kept, not forgotten: a channel
        joined just after the node made the list may already have delivered
        a live message, and forgetting its cursor would deliver that again.
        A channel the user really left is dropped when its sync says
        not_member (see forget()).
        """
        for info in channels:
            state = self._state(info.channel)
            state.known = max(state.known, info.last)
            self._settle(info.channel, state)

    def forget(self, channel: int) -> None:
        """The user left the channel: drop its state (a worker holding it finds nothing to release)."""
        self._channels.pop(channel, None)
        self._behind.pop(channel, None)

    # -- the live path --------------------------------------------------------

    def on_live(self, msg: Message) -> Verdict:
        state = self._state(msg.channel)
        if msg.seq <= state.cursor:
            return Verdict.SKIP
        state.known = max(state.known, msg.seq)
        if state.claimed:
            return Verdict.FETCH
        if msg.seq == state.cursor + 1:
            return Verdict.DELIVER
        self._settle(msg.channel, state)
        return Verdict.FETCH

    def delivered(self, msg: Message) -> None:
        """The app has `msg` (it entered the app's buffer)."""
        state = self._channels.get(msg.channel)
        if state is None:
            return
        # Callers only deliver what a verdict allowed, and nothing else moves a
        # claimed or unclaimed cursor in between: a violation is a client bug.
        assert msg.seq == state.cursor + 1, (msg.seq, state.cursor)
        self._advance(msg.channel, state, msg.seq)

    def undelivered(self, msg: Message) -> None:
        """The app's buffer was full: leave the message to a sync worker, who may wait for room."""
        state = self._channels.get(msg.channel)
        if state is not None:
            self._settle(msg.channel, state)

    # -- the fetch path -------------------------------------------------------

    def claim(self) -> int | None:
        """A channel for a sync worker to bring up to date, now owned by it; None if none is behind."""
        if not self._behind:
            return None
        channel = next(iter(self._behind))
        del self._behind[channel]
        self._channels[channel].claimed = True
        return channel

    def on_synced(self, msg: Message) -> Verdict:
        """A message of a page fetched by the worker that claimed its channel."""
        state = self._channels.get(msg.channel)
        if state is None or msg.seq <= state.cursor:
            return Verdict.SKIP
        if msg.seq > state.cursor + 1:
            # A hole inside a page: the node broke its promise of no gaps.
            # Deliver nothing past it; page_done() sees no progress and stops.
            return Verdict.FETCH
        state.known = max(state.known, msg.seq)
        if msg.device == self.device and (msg.channel, msg.cid) in self._sending:
            # Our own send, stored but not yet acknowledged: the app has it.
            self._advance(msg.channel, state, msg.seq)
            return Verdict.SKIP
        return Verdict.DELIVER

    def page_done(self, channel: int, after: int, more: bool) -> bool:
        """After a page fetched from `after`: True to fetch another, False when the channel is released."""
        state = self._channels.get(channel)
        if state is None:
            return False
        progressed = state.cursor > after
        if progressed and more:
            return True
        if not progressed:
            # The node has nothing past the cursor, though we saw a higher seq
            # live or it said `more`: believe it rather than ask forever. A
            # real gap shows again with the next live message or reconnect.
            state.known = state.cursor
        # Still behind (live messages came meanwhile)? Then release() queues
        # the channel again, behind the others that wait.
        self.release(channel)
        return False

    def release(self, channel: int) -> None:
        """The worker stops (done, failed or cancelled); the channel is claimable again if still behind."""
        state = self._channels.get(channel)
        if state is not None:
            state.claimed = False
            self._settle(channel, state)

    # -- this client's own sends ---------------------------------------------

    def sending(self, channel: int, cid: str) -> None:
        key = (channel, cid)
        self._sending[key] = self._sending.get(key, 0) + 1

    def sent(self, channel: int, cid: str, seq: int | None) -> None:
        """The send with `cid` ended: acknowledged as `seq`, or failed (None)."""
        key = (channel, cid)
        left = self._sending.pop(key) - 1
        if left:
            self._sending[key] = left
        if seq is None:
            return
        state = self._state(channel)
        if seq == state.cursor + 1:
            self._advance(channel, state, seq)
        elif seq > state.cursor + 1:
            state.own.add(seq)
            if len(state.own) > self.own_limit:
                state.own.remove(min(state.own))

    # -- internals -------------------------------------------------------------

    def _state(self, channel: int) -> _Channel:
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel(cursor=0, known=0)
        return state

    def _advance(self, channel: int, state: _Channel, seq: int) -> None:
        # Every caller moves the cursor by exactly one, so own seqs stay above it.
        state.cursor = seq
        while state.cursor + 1 in state.own:
            state.cursor += 1
            state.own.remove(state.cursor)
        state.known = max(state.known, state.cursor)
        self._settle(channel, state)

    def _settle(self, channel: int, state: _Channel) -> None:
        if state.known > state.cursor and not state.claimed:
            self._behind[channel] = None
        else:
            self._behind.pop(channel, None)
