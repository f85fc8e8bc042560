"""The authenticated requests other than `send`: what each one does.

Anything that must be decided by a channel's single writer (membership,
`last`) is asked of its ChannelActor; what only reads or writes the user's
own rows goes straight to the store. Reads of messages happen here, in the
session's handler task, not in the channel actor: a long `sync` never
holds up the channel's sends. They stop at the `last` the channel reported,
its highest acknowledged seq, and at a WebSocket message's worth of bodies:
one page read holds about one reply, whatever `limit` and the bodies are.

No forced membership: a user is put in a new channel (direct, group, invite)
only by someone they do not block, and no faster than the caps allow
(_caps.py); `channels` comes in pages that fit a message, so no number of
channels can stop a client from starting.
"""

from __future__ import annotations

from collections.abc import Iterable

from push import TargetError, new_preview_key
from runtime import ActorDead, ActorRef, AskTimeout, IdGenerator
from storage import Channel as StoredChannel
from storage import Notify
from protocol import (
    AckRequest,
    BlockedRequest,
    BlockRequest,
    ChannelInfo,
    ChannelKind,
    ChannelResult,
    ChannelsRequest,
    ChannelsResult,
    DeviceInfo,
    DevicesRequest,
    DevicesResult,
    DirectRequest,
    ErrorCode,
    GroupRequest,
    HistoryRequest,
    InviteRequest,
    LeaveRequest,
    LogoutRequest,
    LookupRequest,
    Message,
    NotifyLevel,
    NotifyRequest,
    PageResult,
    PresenceRequest,
    PresenceResult,
    PushKind,
    PushRequest,
    PushResult,
    ReadRequest,
    RevokeRequest,
    SyncRequest,
    TypingRequest,
    UnblockRequest,
    UserPresence,
    UserResult,
    UsersResult,
)

from ._accounts import Accounts
from ._failures import RequestFailed
from ._mail import (
    Access,
    Acked,
    Announce,
    BlocksChanged,
    ChannelView,
    DeviceRevoked,
    Invite,
    Leave,
    LevelSet,
    MarkRead,
    PresenceQuery,
    TargetSet,
    Typing,
)
from ._push import preview_key_text, provider_target, stored_target
from ._read_model import contacts_of, member_views
from ._services import Services
from ._wire import wire_message

#: Users one user may block: the `blocked` reply (an id is at most 9 bytes)
#: stays far inside one message, and reading the list stays cheap.
MAX_BLOCKED = 10_000


class Handlers:
    def __init__(self, services: Services, accounts: Accounts, ids: IdGenerator) -> None:
        self._services = services
        self._store = services.store
        self._accounts = accounts
        self._ids = ids
        # Bytes of body that surely fill a page: the reply's whole size.
        self._page_bytes = services.limits.max_message_bytes

    # -- the requests, one method each: the session's table routes to them ----
    # Each takes the request and the device it acts for.

    async def lookup(self, request: LookupRequest, user: int, device: int) -> UserResult:
        return UserResult(await self._accounts.lookup(request.username))

    async def direct(self, request: DirectRequest, user: int, device: int) -> ChannelResult:
        return await self._direct(user, request.user)

    async def group(self, request: GroupRequest, user: int, device: int) -> ChannelResult:
        return await self._group(user, request.name, request.members)

    async def invite(self, request: InviteRequest, user: int, device: int) -> None:
        await self._ask_channel(request.channel, Invite(by=user, users=request.users))

    async def leave(self, request: LeaveRequest, user: int, device: int) -> None:
        await self._ask_channel(request.channel, Leave(user))

    async def channels(self, request: ChannelsRequest, user: int, device: int) -> ChannelsResult:
        return await self._channels(user, request.after, request.limit)

    async def sync(self, request: SyncRequest, user: int, device: int) -> PageResult:
        return await self._sync(user, request)

    async def history(self, request: HistoryRequest, user: int, device: int) -> PageResult:
        return await self._history(user, request)

    async def read(self, request: ReadRequest, user: int, device: int) -> None:
        await self._ask_channel(request.channel, MarkRead(user, device, request.seq))

    async def typing(self, request: TypingRequest, user: int, device: int) -> None:
        await self._ask_channel(request.channel, Typing(user))

    async def presence(self, request: PresenceRequest, user: int, device: int) -> PresenceResult:
        return await self._presence(user, request.users)

    async def devices(self, request: DevicesRequest, user: int, device: int) -> DevicesResult:
        devices = await self._store.devices(user)
        return DevicesResult(DeviceInfo(d.device, d.name, d.last_active) for d in devices)

    async def revoke(self, request: RevokeRequest, user: int, device: int) -> None:
        if not await self._store.revoke_device(user, request.device):
            raise RequestFailed(ErrorCode.NOT_FOUND, "no such device")
        await self._revoked(user, request.device)

    async def logout(self, request: LogoutRequest, user: int, device: int) -> None:
        await self._store.revoke_device(user, device)
        # Queued before this returns, so the `ok` (queued by the session
        # right after) still reaches the device before `bye` (unless the
        # user's mailbox was full and the notice waited).
        await self._revoked(user, device)

    async def ack(self, request: AckRequest, user: int, device: int) -> None:
        await self._view(request.channel, user)  # members only
        await self._tell_user(user, Acked(device, request.channel, request.seq))

    async def notify(self, request: NotifyRequest, user: int, device: int) -> None:
        await self._view(request.channel, user)
        # `all` is no level at all: the row goes, whatever `until` said.
        notify = None if request.level is NotifyLevel.ALL else Notify(request.level, request.until)
        await self._store.set_notify(user, request.channel, notify)
        await self._tell_user(user, LevelSet(request.channel, notify))

    async def push(self, request: PushRequest, user: int, device: int) -> PushResult:
        """Store the device's target once the pusher accepts it; its registration time is now.

        Refused with `bad_request` (and the pusher's reason): a kind this node
        has no provider for, an endpoint that is not https on a public host,
        keys that are not what the kind needs.
        """
        now = self._services.clock_ms()
        if request.target is None:
            await self._store.remove_push_target(user, device, now)
            await self._tell_user(user, TargetSet(device, None))
            return PushResult()
        preview = request.preview and self._services.push_policy.previews
        key = new_preview_key() if preview and request.target.kind in (PushKind.FCM, PushKind.APNS) else None
        stored = stored_target(request.target, now, preview=preview, key=key)
        try:
            self._services.pusher.check(provider_target(stored))
        except TargetError as refusal:
            raise RequestFailed(ErrorCode.BAD_REQUEST, str(refusal)) from None
        await self._store.set_push_target(user, device, stored)
        await self._tell_user(user, TargetSet(device, stored))
        return PushResult(None if key is None else preview_key_text(key))

    async def block(self, request: BlockRequest, user: int, device: int) -> None:
        await self._block(user, request.user)

    async def unblock(self, request: UnblockRequest, user: int, device: int) -> None:
        await self._unblock(user, request.user)

    async def blocked(self, request: BlockedRequest, user: int, device: int) -> UsersResult:
        return UsersResult(await self._store.blocked(user))

    async def _tell_user(self, user: int, message: object) -> None:
        """Tell the user's actor what changed in the store, waiting for room in its mailbox."""
        try:
            await self._services.user_ref(user).tell(message)
        except ActorDead:
            pass  # shutting down (every session is closing), or it could not start: a fresh one reads the store

    async def _revoked(self, user: int, device: int) -> None:
        """Tell the user's live sessions of `device` that its token is gone.

        After the store forgot the token, never before: a session attaching
        meanwhile either sees the token gone (`auth` looks again after its
        attach) or is attached by the time this arrives. Unlike fan-out, the
        notice waits for room in a full mailbox: it is the one message that
        ends a session, and it must not be dropped. It goes to the user's
        actor wherever that lives, activating it if need be; the actor's
        periodic look in the store covers a notice lost between nodes.
        """
        await self._tell_user(user, DeviceRevoked(device))

    # -- channels ----------------------------------------------------------------

    def _channel(self, channel: int) -> ActorRef:
        return self._services.channel_ref(channel)

    async def _ask_channel(self, channel: int, message: object) -> object:
        try:
            answer = await self._channel(channel).ask(message, self._services.ask_timeout)
        except (AskTimeout, ActorDead) as exc:
            raise RequestFailed(ErrorCode.UNAVAILABLE, f"channel busy, retry: {exc}") from None
        if isinstance(answer, RequestFailed):
            raise answer
        return answer

    async def _view(self, channel: int, user: int) -> ChannelView:
        view = await self._ask_channel(channel, Access(user))
        assert isinstance(view, ChannelView)
        return view

    async def _direct(self, user: int, other: int) -> ChannelResult:
        if other == user:
            raise RequestFailed(ErrorCode.BAD_REQUEST, "a direct channel needs another user")
        await self._services.require_users([other])
        await self._services.require_unblocked(user, [other], "direct")
        if await self._store.find_direct(user, other) is None:
            self._services.admit_channel("direct", by=user, creator=False, added=[other])
        # Also when the pair has its channel: open_direct finishes one whose
        # creator stopped half-way.
        proposed = self._ids.next_id()
        channel = await self._store.open_direct(user, other, proposed, self._services.clock_ms())
        if channel.channel == proposed:
            self._announce(channel.channel)
        return ChannelResult(channel.channel)

    async def _group(self, user: int, name: str, invited: Iterable[int]) -> ChannelResult:
        members = frozenset(invited) | {user}
        limit = self._services.limits.max_group_members
        if len(members) > limit:
            raise RequestFailed(ErrorCode.TOO_MANY_MEMBERS, f"a group has at most {limit} members")
        others = members - {user}
        await self._services.require_users(others)
        await self._services.require_unblocked(user, others, "group")
        self._services.admit_channel("group", by=user, creator=True, added=others)
        channel = StoredChannel(
            channel=self._ids.next_id(),
            kind=ChannelKind.GROUP,
            name=name,
            created=self._services.clock_ms(),
            members=members,
        )
        await self._store.create_group(channel)
        self._announce(channel.channel)
        return ChannelResult(channel.channel)

    def _announce(self, channel: int) -> None:
        """New channel: its actor tells every member's devices (`channel` event)."""
        try:
            self._channel(channel).tell_nowait(Announce())
        except ActorDead:
            pass  # shutting down; members see it in their next `channels`

    async def _channels(self, user: int, after: int, limit: int) -> ChannelsResult:
        """The user's channels after `after`, by id: at most `limit`, and only
        as many as fit one message (the client asks on from the last)."""
        ids = await self._store.user_channels(user, after=after, limit=limit + 1)
        markers = await self._store.read_markers(user)
        now = self._services.clock_ms()
        levels = {
            channel: level
            for channel, notify in (await self._store.notify_levels(user)).items()
            if (level := notify.level_at(now)) is not NotifyLevel.ALL
        }
        infos = [
            ChannelInfo(
                channel=view.channel,
                kind=view.kind,
                name=view.name,
                members=view.members,
                last=view.last,
                read=markers.get(view.channel, 0),
                notify=levels.get(view.channel),
            )
            for view in await member_views(self._services, user, ids[:limit])
        ]
        return ChannelsResult.fit(
            infos, more=len(ids) > limit, max_bytes=self._services.limits.max_message_bytes
        )

    # -- blocks ------------------------------------------------------------------

    async def _block(self, user: int, other: int) -> None:
        if other == user:
            raise RequestFailed(ErrorCode.BAD_REQUEST, "one cannot block oneself")
        await self._services.require_users([other])
        blocked = await self._store.blocked(user)
        if other in blocked:
            return
        if len(blocked) >= MAX_BLOCKED:
            raise RequestFailed(ErrorCode.BAD_REQUEST, f"one may block at most {MAX_BLOCKED} users")
        await self._store.block(user, other)
        await self._blocks_changed(user, other)

    async def _unblock(self, user: int, other: int) -> None:
        await self._services.require_users([other])
        await self._store.unblock(user, other)
        await self._blocks_changed(user, other)

    async def _blocks_changed(self, user: int, other: int) -> None:
        """Their direct channel's actor caches who may send in it: tell it.

        Asked, not told: `ok` then means the next send is checked against the
        change. Should the ask fail, the message still waits in the actor's
        mailbox (or a fresh actor reads the store): the client retries.
        """
        channel = await self._store.find_direct(user, other)
        if channel is not None:
            await self._ask_channel(channel, BlocksChanged())

    # -- presence ----------------------------------------------------------------

    async def _presence(self, user: int, users: frozenset[int]) -> PresenceResult:
        """Contacts as their user actors know them; everyone else offline, last 0.

        Only users with an active actor can be online; the rest are read
        from the store's last-activity rows in one query.
        """
        contacts = await contacts_of(self._services, user)
        asked = users & contacts
        known: dict[int, UserPresence] = {}
        offline = []
        for other in asked:
            if not self._services.user_active(other):
                offline.append(other)
                continue
            try:
                answer = await self._services.user_ref(other).ask(PresenceQuery(), self._services.ask_timeout)
            except (AskTimeout, ActorDead):
                offline.append(other)
                continue
            assert isinstance(answer, UserPresence)
            known[other] = answer
        lasts = await self._store.last_active(offline)
        for other in offline:
            known[other] = UserPresence(other, online=False, last=lasts.get(other, 0))
        return PresenceResult(
            known.get(other, UserPresence(other, online=False, last=0)) for other in sorted(users)
        )

    # -- messages ----------------------------------------------------------------

    async def _sync(self, user: int, request: SyncRequest) -> PageResult:
        view = await self._view(request.channel, user)
        if request.after >= view.last:
            return PageResult((), more=False)
        stored = await self._store.read_range(
            request.channel, request.after, view.last, request.limit, max_bytes=self._page_bytes
        )
        messages = [wire_message(m) for m in stored]
        reached = messages[-1].seq if messages else request.after
        return self._fit(messages, more=reached < view.last, keep_newest=False)

    async def _history(self, user: int, request: HistoryRequest) -> PageResult:
        view = await self._view(request.channel, user)
        before = min(request.before, view.last + 1)
        if before <= 1:
            return PageResult((), more=False)
        stored = await self._store.read_before(request.channel, before, request.limit, max_bytes=self._page_bytes)
        messages = [wire_message(m) for m in stored]
        oldest = messages[0].seq if messages else before
        return self._fit(messages, more=oldest > 1, keep_newest=True)

    def _fit(self, messages: list[Message], *, more: bool, keep_newest: bool) -> PageResult:
        return PageResult.fit(
            messages, more=more, max_bytes=self._services.limits.max_message_bytes, keep_newest=keep_newest
        )
