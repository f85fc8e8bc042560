"""The authenticated requests other than `send`: what each one does.

Anything that must be decided by a channel's single writer (membership,
`last`) is asked of its ChannelActor; what only reads or writes the user's
own rows goes straight to the store. Reads of messages happen here, in the
session's handler task, not in the channel actor: a long `sync` never
holds up the channel's sends. They stop at the `last` the channel reported,
its highest acknowledged seq.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime import ActorDead, ActorRef, AskTimeout, IdGenerator
from storage import Channel as StoredChannel
from storage import ChannelKind as StoredKind
from storage import PushTarget as StoredPushTarget
from protocol import (
    ChannelInfo,
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
    PageResult,
    PresenceRequest,
    PresenceResult,
    PushRequest,
    ReadRequest,
    Request,
    Result,
    RevokeRequest,
    SyncRequest,
    TypingRequest,
    UserPresence,
    UserResult,
)

from ._accounts import Accounts
from ._failures import RequestFailed
from ._mail import Access, Announce, ChannelView, DeviceRevoked, Invite, Leave, MarkRead, PresenceQuery, Typing
from ._services import Services
from ._wire import wire_message

#: Messages read from the store at a time for a `sync` or `history` page.
#: A page stops growing once its bodies fill a frame, so one request holds at
#: most a frame and a chunk in memory, not `limit` bodies of 400 KB each.
READ_CHUNK = 50


class Handlers:
    def __init__(self, services: Services, accounts: Accounts, ids: IdGenerator) -> None:
        self._services = services
        self._store = services.store
        self._accounts = accounts
        self._ids = ids
        # Characters of body that surely fill a page: one per byte at least.
        self._page_bytes = services.limits.max_message_bytes

    async def handle(self, request: Request, user: int, device: int) -> Result | None:
        match request:
            case LookupRequest():
                return UserResult(await self._accounts.lookup(request.username))
            case DirectRequest():
                return await self._direct(user, request.user)
            case GroupRequest():
                return await self._group(user, request.name, request.members)
            case InviteRequest():
                await self._ask_channel(request.channel, Invite(by=user, users=request.users))
            case LeaveRequest():
                await self._ask_channel(request.channel, Leave(user))
            case ChannelsRequest():
                return await self._channels(user)
            case SyncRequest():
                return await self._sync(user, request)
            case HistoryRequest():
                return await self._history(user, request)
            case ReadRequest():
                await self._ask_channel(request.channel, MarkRead(user, device, request.seq))
            case TypingRequest():
                await self._ask_channel(request.channel, Typing(user))
            case PresenceRequest():
                return await self._presence(user, request.users)
            case DevicesRequest():
                devices = await self._store.devices(user)
                return DevicesResult(DeviceInfo(d.device, d.name, d.last_active) for d in devices)
            case RevokeRequest():
                if not await self._store.revoke_device(user, request.device):
                    raise RequestFailed(ErrorCode.NOT_FOUND, "no such device")
                await self._revoked(user, request.device)
            case LogoutRequest():
                await self._store.revoke_device(user, device)
                # Queued before this returns, so the `ok` (queued by the
                # session right after) still reaches the device before `bye`
                # (unless the user's mailbox was full and the notice waited).
                await self._revoked(user, device)
            case PushRequest():
                target = request.target
                stored = None if target is None else StoredPushTarget(target.kind, target.endpoint, target.fields)
                await self._store.set_push_target(user, device, stored)
            case _:
                raise RequestFailed(ErrorCode.BAD_REQUEST, f"{request.T!r} is not served by this node")
        return None

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
        try:
            await self._services.user_ref(user).tell(DeviceRevoked(device))
        except ActorDead:
            pass  # shutting down: every session is closing anyway

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
        await self._services.require_users(members - {user})
        channel = StoredChannel(
            channel=self._ids.next_id(),
            kind=StoredKind.GROUP,
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

    async def _channels(self, user: int) -> ChannelsResult:
        ids = await self._store.user_channels(user)
        markers = await self._store.read_markers(user)
        return ChannelsResult(
            ChannelInfo(
                channel=view.channel,
                kind=view.kind,
                name=view.name,
                members=view.members,
                last=view.last,
                read=markers.get(view.channel, 0),
            )
            for view in await self._services.member_views(user, ids)
        )

    # -- presence ----------------------------------------------------------------

    async def _presence(self, user: int, users: frozenset[int]) -> PresenceResult:
        """Contacts as their user actors know them; everyone else offline, last 0.

        Only users with an active actor can be online; the rest are read
        from the store's last-activity rows in one query.
        """
        contacts = await self._services.contacts(user)
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
        wanted, after = request.limit, request.after
        messages: list[Message] = []
        size = 0
        while len(messages) < wanted and after < view.last and size < self._page_bytes:
            chunk = await self._store.read_range(request.channel, after, view.last, min(READ_CHUNK, wanted - len(messages)))
            if not chunk:
                break
            after = chunk[-1].seq
            messages += [wire_message(m) for m in chunk]
            size += sum(len(m.body) for m in chunk)
        reached = messages[-1].seq if messages else request.after
        return self._fit(messages, more=reached < view.last, keep_newest=False)

    async def _history(self, user: int, request: HistoryRequest) -> PageResult:
        view = await self._view(request.channel, user)
        wanted, before = request.limit, min(request.before, view.last + 1)
        messages: list[Message] = []
        size = 0
        while len(messages) < wanted and before > 1 and size < self._page_bytes:
            chunk = await self._store.read_before(request.channel, before, min(READ_CHUNK, wanted - len(messages)))
            if not chunk:
                break
            before = chunk[0].seq
            messages[:0] = [wire_message(m) for m in chunk]
            size += sum(len(m.body) for m in chunk)
        oldest = messages[0].seq if messages else before
        return self._fit(messages, more=oldest > 1, keep_newest=True)

    def _fit(self, messages: list[Message], *, more: bool, keep_newest: bool) -> PageResult:
        return PageResult.fit(
            messages, more=more, max_bytes=self._services.limits.max_message_bytes, keep_newest=keep_newest
        )
