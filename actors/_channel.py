"""ChannelActor: the single writer of one channel.

It holds the channel's membership, its sequence lease and a window of recent
(sender, cid) pairs, and it is the only code on any node that appends to the
channel. Posts are stored in batches: every post that queued up while the
previous append was in flight goes into the next one, so a busy channel pays
one store round trip (and one fsync) per batch, not per message:

    Post -> member? -> pending ... mailbox empty -> window dedup
         -> append(drafts) -> seq/dedup per post -> ok -> fan-out

Every other message first stores the pending posts, so the channel acts in
mailbox order: a `read` or a `leave` sees every post queued before it.

Invariants kept here:
- seqs are 1..N with no gap: `last` moves only after the store accepted the
  append, and a failed or uncertain append gives the lease up, so the next
  post re-reads `last` under a new lease instead of guessing;
- the same (sender, cid) always answers the same seq (window first, store
  second);
- readers are told `last`, the highest acknowledged seq, and read no further,
  so a message a fenced-off holder wrote but never acknowledged stays unseen;
- a direct channel knows which of its two members the other blocks, read
  when it starts and again on every `BlocksChanged` (which `block` and
  `unblock` ask of it before they answer), so a post is checked in memory.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import trio

from runtime import Actor, ActorError

from storage import Draft, Message, SeqLease, StoreError
from storage import Channel as StoredChannel
from protocol import ChannelEvent, ChannelKind, ErrorCode, MsgEvent, ReceiptEvent, SendResult, TypingEvent, encode

from ._failures import RequestFailed
from ._mail import (
    Access,
    Announce,
    BlocksChanged,
    ChannelView,
    Deliver,
    Invite,
    Leave,
    MarkRead,
    Post,
    Posted,
    PostReply,
    ReadMoved,
    Typing,
)
from ._security import SecurityEvent
from ._services import Services
from ._wire import wire_message

log = logging.getLogger(__name__)

# (sender, cid) pairs remembered per active channel; older ones are found in
# the store. A retry normally follows its original within seconds.
DEDUP_WINDOW = 1024

# Posts stored in one append at most: a channel whose mailbox never runs
# empty still answers its senders at least this often.
MAX_BATCH = 64

# Seconds between two `typing` events of one member in one channel.
TYPING_INTERVAL = 1.0


class ChannelActor(Actor):
    __slots__ = (
        "_id",
        "_services",
        "_channel",
        "_lease",
        "_last",
        "_last_ts",
        "_recent",
        "_pending",
        "_markers",
        "_typed",
        "_blocked",
    )

    def __init__(self, channel_id: int, services: Services) -> None:
        self._id = channel_id
        self._services = services
        self._channel: StoredChannel | None = None
        self._lease: SeqLease | None = None
        self._last = 0
        self._last_ts = 0
        self._recent: OrderedDict[tuple[int, str], SendResult] = OrderedDict()
        # Posts accepted since the last append, in mailbox order.
        self._pending: list[Post] = []
        # Members' read markers, loaded on a member's first `read` here.
        self._markers: dict[int, int] = {}
        # When each member's last `typing` went out (Trio time).
        self._typed: dict[int, float] = {}
        # Direct channels: the member the other one blocks, if any.
        self._blocked: frozenset[int] = frozenset()

    #: A store that cannot be read now fails the activation, not the
    #: registry: what waits on it hears `unavailable` (see `undelivered`),
    #: and the next message tries again.
    transient_errors = (StoreError,)

    async def started(self) -> None:
        store = self._services.store
        self._channel = await store.get_channel(self._id)
        if self._channel is not None:
            self._last = (await store.last_seqs([self._id])).get(self._id, 0)
            await self._read_blocks()

    def undelivered(self, message: object, error: ActorError) -> None:
        """A post dropped unread (the channel could not start, or crashed) is
        answered `unavailable`: its sender waits for an answer, and the post
        was not stored, so a retry with the same cid is safe."""
        if isinstance(message, Post):
            self._reply(message, RequestFailed(ErrorCode.UNAVAILABLE, "message not stored, retry with the same cid"))

    async def receive(self, message: object) -> object:
        """Handle one message; a refused ask returns its RequestFailed.

        A refusal is an answer, not a crash: only bugs escape from here.
        """
        try:
            if isinstance(message, Post):
                self._queue_post(message)
                if len(self._pending) >= MAX_BATCH:
                    await self._store_pending()
                return None
            await self._store_pending()
            return await self._handle(message)
        except RequestFailed as refusal:
            return refusal
        except StoreError as exc:
            return RequestFailed(ErrorCode.UNAVAILABLE, f"store unavailable, retry: {exc}")
        finally:
            if self._channel is None:
                # No such channel: nothing to keep. Gone now rather than after
                # the idle period, so requests for made-up ids hold no memory.
                self._services.passivate_channel(self._id)

    async def drained(self) -> None:
        await self._store_pending()

    async def _handle(self, message: object) -> object:
        if isinstance(message, Access):
            return self._view(message.user)
        elif isinstance(message, Invite):
            await self._invite(message)
        elif isinstance(message, Leave):
            await self._leave(message)
        elif isinstance(message, Typing):
            self._typing(message.user)
        elif isinstance(message, MarkRead):
            await self._mark_read(message)
        elif isinstance(message, Announce):
            await self._reload()
            self._announce(self._members())
        elif isinstance(message, BlocksChanged):
            await self._read_blocks()
        else:
            raise TypeError(f"channel actor got {message!r}")
        return None

    # -- reading ---------------------------------------------------------------

    def _members(self) -> frozenset[int]:
        return self._channel.members if self._channel is not None else frozenset()

    def _require_member(self, user: int) -> StoredChannel:
        channel = self._channel
        if channel is None or user not in channel.members:
            raise RequestFailed(ErrorCode.NOT_MEMBER, "not a member of this channel")
        return channel

    def _view(self, user: int) -> ChannelView:
        channel = self._require_member(user)
        return ChannelView(
            channel=self._id,
            kind=channel.kind,
            name=channel.name,
            members=channel.members,
            last=self._last,
        )

    # -- sending ---------------------------------------------------------------

    def _queue_post(self, post: Post) -> None:
        """Refuse a non-member now; queue the rest for the next append.

        Membership changes only through messages that store the pending posts
        first, so the check made now is the one the append would make.
        """
        try:
            channel = self._require_member(post.sender)
            self._require_unblocked(post.sender, "send")
            if not post.request.mentions <= channel.members:
                raise RequestFailed(ErrorCode.BAD_REQUEST, "mentions must be members of the channel")
        except RequestFailed as failure:
            self._reply(post, failure)
            return
        self._pending.append(post)

    async def _store_pending(self) -> None:
        """Append the pending posts in one batch and answer every one of them."""
        posts, self._pending = self._pending, []
        if not posts:
            return
        try:
            results = await self._append(posts)
        except RequestFailed as failure:
            for post in posts:
                self._reply(post, failure)
            return
        for post, result in zip(posts, results, strict=True):
            self._reply(post, result)

    async def _append(self, posts: list[Post]) -> list[SendResult]:
        """Per post, where it is stored now or where its earlier send was (the
        window answers those it remembers without asking the store)."""
        remembered = [self._recent.get((post.sender, post.request.cid)) for post in posts]
        new = [post for post, earlier in zip(posts, remembered, strict=True) if earlier is None]
        stored = iter(await self._append_to_store(new) if new else ())
        return [next(stored) if earlier is None else earlier for earlier in remembered]

    async def _append_to_store(self, posts: list[Post]) -> list[SendResult]:
        lease = await self._current_lease()
        # Never earlier than the message before it: clocks step back.
        ts = max(self._services.clock_ms(), self._last_ts)
        drafts = [Draft(post.sender, post.device, post.request.body, ts, post.request.cid) for post in posts]
        try:
            results = await self._services.store.append(lease, self._last, drafts)
        except StoreError as exc:
            # Whether the write landed is unknown (a timeout) or another node
            # owns the channel now: give the lease up, so the next post takes a
            # fresh one and reads `last` again rather than reusing a seq.
            self._lease = None
            log.warning("channel %d: append after seq %d not acknowledged: %s", self._id, self._last, exc)
            raise RequestFailed(ErrorCode.UNAVAILABLE, "message not stored, retry with the same cid") from None
        answers: list[SendResult] = []
        for post, result in zip(posts, results, strict=True):
            # A repeat may answer with another channel: the protocol makes
            # (sender, cid) unique per sender, not per channel.
            answer = SendResult(channel=result.channel, seq=result.seq, ts=result.ts)
            if isinstance(result, Message):
                self._last, self._last_ts = result.seq, result.ts
                self._remember(result.sender, result.cid, answer)
                self._fan_out(result, post)
            answers.append(answer)
        return answers

    async def _current_lease(self) -> SeqLease:
        if self._lease is None:
            try:
                self._lease = await self._services.store.take_lease(self._id)
            except StoreError:
                raise RequestFailed(ErrorCode.UNAVAILABLE, "store unavailable, retry") from None
            self._last = self._lease.last
        return self._lease

    def _remember(self, sender: int, cid: str, result: SendResult) -> None:
        self._recent[(sender, cid)] = result
        if len(self._recent) > DEDUP_WINDOW:
            self._recent.popitem(last=False)

    def _reply(self, post: Post, outcome: SendResult | RequestFailed) -> None:
        self._services.tell_session(post.reply_to, PostReply(post.request, outcome))

    def _fan_out(self, message: Message, post: Post) -> None:
        """To every member's connections but the one that sent it (its `ok` says it all),
        and to every member's push decisions, connected or not (`wake`)."""
        frame = encode(MsgEvent(wire_message(message)))
        cue = Posted(self._id, message.seq, message.sender, post.request.mentions, message.body)
        self._services.deliver(self._members(), Deliver(frame=frame, except_session=post.reply_to, cue=cue), wake=True)

    # -- typing and receipts ------------------------------------------------------

    def _typing(self, user: int) -> None:
        """Tell the other members' devices; at most once per TYPING_INTERVAL per user.

        Clients repeat `typing` while the user types; the first of a burst
        is news, the rest would only multiply the fan-out. Not stored.
        """
        self._require_member(user)
        if user in self._blocked:
            return  # nothing to tell them, and nothing for the one who blocks
        now = trio.current_time()
        if now - self._typed.get(user, -TYPING_INTERVAL) < TYPING_INTERVAL:
            return
        self._typed[user] = now
        frame = encode(TypingEvent(channel=self._id, user=user))
        self._services.deliver(self._members() - {user}, Deliver(frame=frame))

    async def _mark_read(self, read: MarkRead) -> None:
        """Move the marker forward (never back, never past `last`), then tell everyone.

        The reader's own other devices get the receipt too (all but the one
        that read), so a message read on the phone is read on the laptop.
        """
        self._require_member(read.user)
        seq = min(read.seq, self._last)
        marker = self._markers.get(read.user)
        if marker is None:
            marker = (await self._services.store.read_markers(read.user)).get(self._id, 0)
        if seq <= marker:
            self._markers[read.user] = marker
            return
        await self._services.store.advance_read_marker(read.user, self._id, seq)
        self._markers[read.user] = seq
        frame = encode(ReceiptEvent(channel=self._id, user=read.user, seq=seq))
        cue = ReadMoved(self._id, read.user, seq, read.device)
        self._services.deliver(self._members(), Deliver(frame=frame, except_device=read.device, cue=cue))

    # -- membership -------------------------------------------------------------

    async def _reload(self) -> None:
        self._channel = await self._services.store.get_channel(self._id)

    async def _read_blocks(self) -> None:
        channel = self._channel
        if channel is None or channel.kind is not ChannelKind.DIRECT:
            return
        store = self._services.store
        self._blocked = frozenset(
            [member for member in channel.members if await store.blockers(member, channel.members - {member})]
        )

    def _require_unblocked(self, user: int, request: str) -> None:
        if user in self._blocked:
            self._services.security.record(SecurityEvent.BLOCKED_REQUEST, user=user, request=request, channel=self._id)
            raise RequestFailed(ErrorCode.BLOCKED, "not allowed by that user")

    def _require_group_member(self, user: int) -> StoredChannel:
        channel = self._require_member(user)
        if channel.kind is not ChannelKind.GROUP:
            raise RequestFailed(ErrorCode.NOT_GROUP, "direct channels have exactly two members")
        return channel

    async def _invite(self, invite: Invite) -> None:
        channel = self._require_group_member(invite.by)
        new = invite.users - channel.members
        if not new:
            return
        if len(channel.members) + len(new) > self._services.limits.max_group_members:
            raise RequestFailed(
                ErrorCode.TOO_MANY_MEMBERS,
                f"a group has at most {self._services.limits.max_group_members} members",
            )
        await self._services.require_users(new)
        await self._services.require_unblocked(invite.by, new, "invite")
        self._services.admit_channel("invite", by=invite.by, creator=False, added=new)
        await self._services.store.add_members(self._id, new)
        await self._reload()
        self._announce(self._members())

    async def _leave(self, leave: Leave) -> None:
        self._require_group_member(leave.user)
        await self._services.store.remove_member(self._id, leave.user)
        await self._reload()
        # The one who left learns the new member list too, so every client
        # can drop the channel from its list on the same event.
        self._announce(self._members() | {leave.user})

    def _announce(self, users: Iterable[int]) -> None:
        channel = self._channel
        if channel is None:
            return
        frame = encode(
            ChannelEvent(
                channel=self._id,
                kind=channel.kind,
                name=channel.name,
                members=channel.members,
            )
        )
        self._services.deliver(users, Deliver(frame=frame))
