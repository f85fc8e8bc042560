"""What every chat actor of a node shares: the store, the registries, the limits."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterable

from attrs import field, frozen

import trio

from push import Pusher
from runtime import ActorDead, ActorRef, MailboxFull, Registry, Timers
from storage import Store
from protocol import ErrorCode, Limits

from ._activity import ActivityLog
from ._caps import MembershipCaps
from ._failures import RequestFailed
from ._push_decisions import PushPolicy
from ._security import SecurityEvent, SecurityLog

log = logging.getLogger(__name__)

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
    #: The node's `push` child, and the rules of when it is used.
    pusher: Pusher
    push_policy: PushPolicy = field(factory=PushPolicy)
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

    def deliver(self, users: Iterable[int], message: object, *, wake: bool = False) -> None:
        """Fan a message out to the actors of users who are online, never waiting.

        A user with no live device has no active actor, and is skipped
        without activating one: fan-out costs what the online members cost.
        Devices that connect later catch up with `sync` after `auth`.

        `wake` (a new message, on a node that can push) activates the actors
        of the others too: theirs is the decision to push to a device that
        is not connected. An actor so woken keeps the user's targets and
        levels in memory while the channel is busy, and goes when idle.
        """
        wake = wake and bool(self.pusher.configured_kinds)
        for user in users:
            if not (wake or self.user_active(user)):
                continue
            try:
                self.user_ref(user).tell_nowait(message)
            except MailboxFull:
                # Its devices see a seq gap and fill it with `sync`.
                self.dropped.record(user)
            except ActorDead:
                pass  # shutting down

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
