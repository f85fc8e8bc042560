"""UserActor: where a user's live devices are, and whether the user is online.

Channels fan out to users, never to devices, so a channel's work per message
is the member count whatever the devices; the user turns it into one frame
per live session. Delivery never waits: a session whose outbound queue is
over its byte cap closes itself as a slow consumer, and the device recovers
with `sync` when it reconnects.

Revocation: the node that revokes a device tells the user's actor
(`DeviceRevoked`), which ends that device's sessions with `bye` revoked.
A notice can still go missing between nodes (links are at most once), so
while any session is attached the actor also looks in the store every
`revocation_check` seconds and ends the sessions of devices it no longer
has. That costs one read of the user's device rows per online user per
period: about 800 reads/s at 25,000 online users per node and 30 s.

Presence is the user's, not a device's: it changes when the first device
arrives and, debounced, when the last one has been gone for the idle
timeout (`PresenceDebounce`). Only then are the user's contacts told, and
only those of them who are online.

Push is decided here too (`UserPush`, around the sans-IO `PushDecisions`,
held only while the user has a push target): the actor sees every message
of the user's channels (a channel wakes the actors of its members who are
not connected, on a node that can push), which devices are live, their
acks and the user's reads. A message's frames go to the live sessions
first; push is what the actor does after, never waiting on a provider.

The user's actor is also where limits per device and per user are kept,
since it is the one place that sees all of a user's connections on this
node: `Attach` is answered with the device's `DeviceGrant` (its shared send
bucket), or refused when the device or the user is at its connection cap
(`UserGrants`).
"""

from __future__ import annotations

import logging

import trio

from runtime import Actor, ActorRef, Timer
from storage import PushTarget, StoreError
from protocol import ByeReason, ErrorCode, PresenceEvent, UserPresence, encode

from ._mail import (
    Acked,
    Attach,
    Bye,
    CheckRevocations,
    Deliver,
    Detach,
    DeviceRevoked,
    LevelSet,
    Outgoing,
    Posted,
    PresenceDeadline,
    PresenceQuery,
    PushDeadline,
    ReadMoved,
    TargetGone,
    TargetSet,
)
from ._failures import RequestFailed
from ._grants import ConnectionsCapped, DeviceGrant, UserGrants
from ._presence import PresenceChange, PresenceDebounce
from ._push import UserPush
from ._read_model import contacts_of
from ._security import SecurityEvent
from ._services import Services

log = logging.getLogger(__name__)


class UserActor(Actor):
    __slots__ = (
        "_id",
        "_services",
        "_sessions",
        "_grants",
        "_presence",
        "_timer",
        "_revocation_check",
        "_revocation_timer",
        "_push",
    )

    #: A store that cannot be read now fails the activation (its mail hears
    #: `unavailable`), not the registry.
    transient_errors = (StoreError,)

    def __init__(self, user_id: int, services: Services, *, revocation_check: float = 30.0) -> None:
        self._id = user_id
        self._services = services
        # session ref -> its device. One device may hold several connections
        # (a reconnect racing the old socket's close); each gets every frame.
        self._sessions: dict[ActorRef, int] = {}
        self._grants = UserGrants(services.limits)
        self._presence = PresenceDebounce(grace_ms=services.limits.idle_timeout * 1000)
        self._timer: Timer | None = None
        self._revocation_check = revocation_check
        # Set while a session is attached: the next look for revoked devices.
        self._revocation_timer: Timer | None = None
        # The push side, while the user has a push target (`_pushing`).
        self._push: UserPush | None = None

    async def started(self) -> None:
        targets = await self._services.store.push_targets(self._id)
        if targets:
            await self._pushing().load(targets)

    def may_passivate(self) -> bool:
        """Live devices, a pending offline and pending pushes are the state: keep them."""
        return not self._sessions and self._presence.settled and (self._push is None or self._push.settled)

    async def receive(self, message: object) -> object:
        if isinstance(message, Deliver):
            await self._deliver(message)
        elif isinstance(message, Attach):
            admitted = await self._attach(message)
            self._schedule_revocation_check()
            return admitted
        elif isinstance(message, Detach):
            if self._sessions.pop(message.session, None) is not None:
                await self._gone(message.device)
        elif isinstance(message, TargetSet):
            self._set_target(message.device, message.target)
        elif isinstance(message, Acked | PushDeadline | TargetGone | LevelSet):
            await self._tell_push(message)
        elif isinstance(message, PresenceDeadline):
            self._timer = None
            await self._publish(self._presence.expire(self._services.clock_ms()))
        elif isinstance(message, PresenceQuery):
            return UserPresence(self._id, online=self._presence.online, last=self._presence.last_active)
        elif isinstance(message, DeviceRevoked):
            self._set_target(message.device, None)  # the store forgot it with the device
            self._end_sessions({message.device})
        elif isinstance(message, CheckRevocations):
            self._revocation_timer = None
            await self._check_revocations()
        else:
            raise TypeError(f"user actor got {message!r}")
        self._schedule_revocation_check()
        return None

    async def _attach(self, attach: Attach) -> DeviceGrant | RequestFailed:
        """Admit a session of `attach.device` under the caps: its grant, or the refusal."""
        await self._forget_dead_sessions()
        # Not counting the session itself: an `auth` retried after its Attach
        # timed out finds that Attach here, late, but already counted.
        others = [device for session, device in self._sessions.items() if session != attach.session]
        admitted = self._grants.admit(attach.device, others, trio.current_time())
        if isinstance(admitted, ConnectionsCapped):
            self._services.security.record(
                SecurityEvent.CONNECTION_REFUSED,
                cap=f"connections_per_{admitted.cap}",
                limit=admitted.limit,
                user=self._id,
                device=attach.device,
            )
            return RequestFailed(
                ErrorCode.RATE_LIMITED,
                f"this {admitted.cap} has {admitted.limit} connections already",
                retry_ms=admitted.retry_ms,
            )
        self._sessions[attach.session] = attach.device
        if self._push is not None:
            self._push.set_live(attach.device, True)
        self._cancel_timer()
        await self._publish(self._presence.attached(self._services.clock_ms()))
        return admitted

    async def _forget_dead_sessions(self) -> None:
        """Sessions that ended without a `Detach` (its tell found the mailbox full) hold no slot."""
        for session, device in list(self._sessions.items()):
            if not session.alive:
                del self._sessions[session]
                await self._gone(device)

    def _end_sessions(self, devices: set[int]) -> None:
        """`bye` revoked to every session of `devices`; each detaches as it closes."""
        for session, device in list(self._sessions.items()):
            if device in devices:
                self._services.tell_session(session, Bye(ByeReason.REVOKED))

    async def _check_revocations(self) -> None:
        """End the sessions of devices the store no longer has."""
        if not self._sessions:
            return
        try:
            live = {device.device for device in await self._services.store.devices(self._id)}
        except StoreError as exc:
            log.warning("user %d: revocations not checked: %s", self._id, exc)
            return
        # Sessions attach only after their token was found, so a device
        # missing now was revoked after its session attached.
        revoked = set(self._sessions.values()) - live
        for device in revoked:
            self._services.security.record(SecurityEvent.REVOKED_SESSION, user=self._id, device=device)
            self._set_target(device, None)
        self._end_sessions(revoked)

    def _schedule_revocation_check(self) -> None:
        """A look every `revocation_check` seconds while a session is attached; none otherwise."""
        if self._sessions and self._revocation_timer is None:
            self._revocation_timer = self._services.timers.send_after(
                self._revocation_check, self._services.user_ref(self._id), CheckRevocations()
            )
        elif not self._sessions and self._revocation_timer is not None:
            self._revocation_timer.cancel()
            self._revocation_timer = None

    async def _deliver(self, deliver: Deliver) -> None:
        """The frame to the live sessions, then what it means for push."""
        outgoing = Outgoing(deliver.frame)
        for session, device in list(self._sessions.items()):
            if device == deliver.except_device or session == deliver.except_session:
                continue
            if not self._services.tell_session(session, outgoing):
                del self._sessions[session]
                await self._gone(device)
        cue, push = deliver.cue, self._push
        if push is None:
            return
        if isinstance(cue, Posted):
            await push.posted(cue)
        elif isinstance(cue, ReadMoved) and cue.user == self._id:
            await push.read(cue)

    # -- push ----------------------------------------------------------------------

    def _pushing(self) -> UserPush:
        """The push side, made when the user's first target appears, told which devices are live."""
        if self._push is None:
            self._push = UserPush(self._id, self._services)
            for device in set(self._sessions.values()):
                self._push.set_live(device, True)
        return self._push

    def _set_target(self, device: int, target: PushTarget | None) -> None:
        if target is not None:
            self._pushing().set_target(device, target)
        elif self._push is not None:
            self._push.set_target(device, None)
            self._drop_push_if_idle()

    async def _tell_push(self, message: Acked | PushDeadline | TargetGone | LevelSet) -> None:
        """What only matters while the user has a target (a level is read with the first one)."""
        push = self._push
        if push is None:
            return
        if isinstance(message, Acked):
            push.acked(message.device, message.channel, message.seq)
        elif isinstance(message, PushDeadline):
            await push.deadline()
        elif isinstance(message, TargetGone):
            push.target_gone(message.device, message.registered)
            self._drop_push_if_idle()
        else:
            push.set_level(message.channel, message.notify)

    def _drop_push_if_idle(self) -> None:
        if self._push is not None and self._push.idle:
            self._push = None

    async def _gone(self, device: int) -> None:
        """A session of `device` ended: record the activity, maybe start the grace."""
        if self._push is not None:
            self._push.set_live(device, device in self._sessions.values())
        now = self._services.clock_ms()
        self._presence.detached(now)
        self._services.activity.record(self._id, device, now)
        deadline = self._presence.offline_deadline
        if deadline is not None and self._timer is None:
            self._timer = self._services.timers.send_after(
                (deadline - now) / 1000, self._services.user_ref(self._id), PresenceDeadline()
            )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _publish(self, change: PresenceChange | None) -> None:
        if change is None:
            return
        try:
            contacts = await contacts_of(self._services, self._id)
        except StoreError as exc:
            log.warning("user %d: presence not published: %s", self._id, exc)
            return
        frame = encode(PresenceEvent(UserPresence(self._id, online=change.online, last=change.last)))
        self._services.deliver(contacts, Deliver(frame=frame))
