"""What every chat actor of a node shares: the store, the registries, the limits."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterable

from attrs import field, frozen

import trio

from runtime import ActorDead, ActorError, ActorRef, MailboxFull, Registry, Timers
from storage import Channel, Store, StoreError
from protocol import ErrorCode, Limits

from ._activity import ActivityLog
from ._caps import MembershipCaps
from ._failures import RequestFailed
from ._mail import Access, ChannelView
from ._security import SecurityEvent, SecurityLog

log = logging.getLogger(__name__)

#: Channel rows read at once for one request (`channels`, contacts).
CHANNEL_READ_CONCURRENCY = 16

#: Page reads in flight on one node (NodeConfig.page_reads).
DEFAULT_PAGE_READS = 32


class DroppedDeliveries:
    """Counts deliveries dropped at full user mailboxes, logged at most every
    LOG_INTERVAL seconds: an overflowing mailbox drops thousands in a burst,
    and one line per drop would bury the log (and slow the node further)."""

    LOG_INTERVAL = 10.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._count = 0
        self._logged_at = -math.inf

    def record(self, user: int) -> None:
        self._count += 1
        now = self._clock()
        if now - self._logged_at >= self.LOG_INTERVAL:
            log.warning(
                "dropped %d deliveries at full user mailboxes (the latest for user %d);"
                " their devices fill the gaps with sync",
                self._count,
                user,
            )
            self._count = 0
            self._logged_at = now


def _user_key(user: int) -> tuple[str, int]:
    return ("user", user)


def _channel_key(channel: int) -> tuple[str, int]:
    return ("channel", channel)


def registry_id(key: object) -> int:
    """The user or channel id inside a registry key (what the actor factories are given)."""
    _, actor_id = key  # type: ignore[misc]
    return actor_id


@frozen
class Services:
    store: Store
    limits: Limits
    clock_ms: Callable[[], int]
    users: Registry
    channels: Registry
    timers: Timers
    activity: ActivityLog
    #: How long a request waits for a user or channel actor's answer.
    ask_timeout: float
    dropped: DroppedDeliveries = field(factory=DroppedDeliveries)
    security: SecurityLog = field(factory=SecurityLog)
    caps: MembershipCaps = field(factory=MembershipCaps)
    #: `sync` and `history` pages being read at once by all the node's
    #: sessions: each holds up to a message of bodies while it is read.
    page_reads: trio.CapacityLimiter = field(factory=lambda: trio.CapacityLimiter(DEFAULT_PAGE_READS))

    # -- addresses: the one place registry keys are spelled ---------------------

    def user_ref(self, user: int) -> ActorRef:
        return self.users.ref(_user_key(user))

    def channel_ref(self, channel: int) -> ActorRef:
        return self.channels.ref(_channel_key(channel))

    def user_active(self, user: int) -> bool:
        """Whether the user's actor runs on this node now (a device of theirs is online)."""
        return self.users.is_active(_user_key(user))

    def channel_active(self, channel: int) -> bool:
        return self.channels.is_active(_channel_key(channel))

    def passivate_channel(self, channel: int) -> None:
        self.channels.passivate(_channel_key(channel))

    def tell_session(self, session: ActorRef, message: object) -> bool:
        """Hand a frame to a session without waiting; False if it is gone.

        A device that does not read is that session's problem, not the
        sender's: past its byte cap it closes as a slow consumer, and the
        device catches up with `sync` after it reconnects.
        """
        try:
            session.tell_nowait(message)
        except MailboxFull:
            return True
        except ActorDead:
            return False
        return True

    def deliver(self, users: Iterable[int], message: object) -> None:
        """Fan a message out to the actors of users who are online, never waiting.

        A user with no live device has no active actor, and is skipped
        without activating one: fan-out costs what the online members cost.
        Devices that connect later catch up with `sync` after `auth`.
        """
        for user in users:
            if not self.user_active(user):
                continue
            try:
                self.user_ref(user).tell_nowait(message)
            except MailboxFull:
                # Its devices see a seq gap and fill it with `sync`.
                self.dropped.record(user)
            except ActorDead:
                pass  # shutting down

    async def channel_rows(self, channels: Iterable[int]) -> list[Channel]:
        """The stored rows of these channels (missing ones left out), by id.

        A store failure is raised as itself, not in an ExceptionGroup, so
        callers' `except StoreError` sees it.
        """
        rows: list[Channel] = []
        failures: list[StoreError] = []
        limiter = trio.CapacityLimiter(CHANNEL_READ_CONCURRENCY)

        async def read(channel: int) -> None:
            try:
                async with limiter:
                    row = await self.store.get_channel(channel)
            except StoreError as exc:
                failures.append(exc)
                return
            if row is not None:
                rows.append(row)

        async with trio.open_nursery() as nursery:
            for channel in channels:
                nursery.start_soon(read, channel)
        if failures:
            raise failures[0]
        return sorted(rows, key=lambda row: row.channel)

    async def member_views(self, user: int, channels: Iterable[int]) -> list[ChannelView]:
        """The views of those channels that have `user` as a member, by id."""
        views, from_store = await self._active_views(user, channels)
        if from_store:
            lasts = await self.store.last_seqs(from_store)
            views += [
                ChannelView(row.channel, row.kind, row.name, row.members, lasts.get(row.channel, 0))
                for row in await self._member_rows(user, from_store)
            ]
        return sorted(views, key=lambda view: view.channel)

    async def contacts(self, user: int) -> frozenset[int]:
        """Everyone who shares a channel with `user` (not `user`)."""
        views, from_store = await self._active_views(user, await self.store.user_channels(user))
        members = [view.members for view in views]
        members += [row.members for row in await self._member_rows(user, from_store)]
        return frozenset().union(*members) - {user}

    async def _member_rows(self, user: int, channels: list[int]) -> list[Channel]:
        return [row for row in await self.channel_rows(channels) if user in row.members]

    async def _active_views(
        self, user: int, channels: Iterable[int]
    ) -> tuple[list[ChannelView], list[int]]:
        """The views of the channels whose actor is active on this node and
        has `user` as a member, and the channels left to read from the store.

        An active channel actor holds its row, members and `last`: a device
        reconnecting to its busy channels costs no store reads for them. An
        actor that cannot answer now leaves its channel to the store.
        """
        views: list[ChannelView] = []
        from_store: list[int] = []

        async def ask(channel: int) -> None:
            if not self.channel_active(channel):  # passivated since: not worth waking
                from_store.append(channel)
                return
            try:
                answer = await self.channel_ref(channel).ask(Access(user), self.ask_timeout)
            except ActorError:
                from_store.append(channel)
                return
            if isinstance(answer, ChannelView):
                views.append(answer)
            elif not (isinstance(answer, RequestFailed) and answer.code == ErrorCode.NOT_MEMBER):
                from_store.append(channel)

        async with trio.open_nursery() as nursery:
            for channel in channels:
                if self.channel_active(channel):
                    nursery.start_soon(ask, channel)
                else:
                    from_store.append(channel)
        return views, from_store

    async def require_users(self, users: Iterable[int]) -> None:
        for user in users:
            if await self.store.get_user(user) is None:
                raise RequestFailed(ErrorCode.NOT_FOUND, f"no user {user}")

    # -- no forced membership ------------------------------------------------------

    async def require_unblocked(self, user: int, others: Collection[int], request: str) -> None:
        """Refuse (`blocked`) a request of `user` that would put any of
        `others` who block them in a channel. The code says it all: not who."""
        if others and await self.store.blockers(user, others):
            self.security.record(SecurityEvent.BLOCKED_REQUEST, user=user, request=request)
            raise RequestFailed(ErrorCode.BLOCKED, "not allowed by a user it would add")

    def admit_channel(self, request: str, *, by: int, creator: bool, added: Collection[int]) -> None:
        """Count a new channel that `by` makes (a group if `creator`) and that
        adds `added`; over a cap refuse it (`rate_limited` with `retry`)."""
        retry = self.caps.admit(trio.current_time(), creator=by if creator else None, added=added)
        if retry:
            self.security.record(SecurityEvent.THROTTLED, user=by, request=request, retry_ms=retry)
            raise RequestFailed(
                ErrorCode.RATE_LIMITED, "too many new channels lately, for you or a user added", retry_ms=retry
            )
