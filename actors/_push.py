"""The push side of a user's actor: it feeds the user's `PushDecisions` and hands their effects to the pusher.

A user's actor has one only while the user has a push target (or a push
pending): the users without one, most of those online on a node, pay
nothing for push but the read of their targets when the actor starts.
What the decisions need is read then (the targets, and the levels if there
is a target: two partition reads) and kept from then on by what the actor
is told (`TargetSet`, `TargetGone`, `LevelSet`),
so a message's delivery never waits on the store for push. The one read on
a push's way is the badge, once per activation, on the first push
(`Store.unread`); one that fails is tried again BADGE_RETRY seconds later,
the pushes in between carrying what the actor counted itself.

Effects become `Notification`s keyed (user, device, channel): the pusher
keeps at most one pending per key, a newer offer replacing it, and
withdraws by key. Offers never wait; a full queue drops the newcomer (the
pusher counts it). One timer per user (the timer service's) brings the
decisions their clock, at the earliest time they asked for.
"""

from __future__ import annotations

import base64
import logging

import trio

from protocol import PushTarget as WireTarget
from push import Notification, Preview, Target, Urgency
from runtime import ActorDead, MailboxFull, Timer
from storage import Notify, StoreError
from storage import PushTarget as StoredTarget

from ._mail import Posted, PushDeadline, ReadMoved, TargetGone
from ._push_decisions import Badge, Effect, Push, PushDecisions, UnreadCounts, Withdraw
from ._services import Services

log = logging.getLogger(__name__)

#: Seconds before a badge that could not be read is read again.
BADGE_RETRY = 30.0


def stored_target(target: WireTarget, registered: int, *, preview: bool, key: bytes | None) -> StoredTarget:
    """What the store keeps of a target a device registered: provider fields as text."""
    fields = tuple((name, _text(value)) for name, value in target.fields)
    return StoredTarget(target.kind.value, target.endpoint, fields, registered, preview, key)


def provider_target(stored: StoredTarget) -> Target:
    return Target(stored.kind, stored.endpoint, stored.fields, stored.registered, stored.preview_key)


def preview_key_text(key: bytes) -> str:
    """A preview key as the `push` reply gives it: base64url without padding."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


async def forget_gone_target(services: Services, notification: Notification) -> None:
    """The pusher's `on_gone`: compare-and-delete the dead target, then tell the user's actor.

    The store removes the target only if it is the one registered at the
    dead one's time, so a device that registered again meanwhile keeps its
    new target. An actor not running has nothing to forget; one whose
    mailbox is full keeps the dead target a while, which the pusher refuses
    offers for (it remembers the targets it reported gone).
    """
    user, device, _ = notification.key
    registered = notification.target.registered
    await services.store.remove_push_target(user, device, registered)
    if services.user_active(user):
        try:
            services.user_ref(user).tell_nowait(TargetGone(device, registered))
        except (MailboxFull, ActorDead):
            pass


def _text(value: str | bool) -> str:
    # The providers' fields are text; the wire's one boolean (APNs `sandbox`) is "true"/"false".
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class UserPush:
    __slots__ = (
        "_user",
        "_services",
        "_decisions",
        "_targets",
        "_levels_read",
        "_unread",
        "_badge_at",
        "_latest",
        "_timer",
        "_wake",
    )

    def __init__(self, user: int, services: Services) -> None:
        self._user = user
        self._services = services
        policy = services.push_policy
        self._decisions = PushDecisions(user, policy.ack_timeout, policy.remember)
        self._targets: dict[int, StoredTarget] = {}
        # Levels are read with the targets, or with the first message after
        # a device registered one: a user without targets needs none.
        self._levels_read = False
        self._unread = UnreadCounts()
        self._badge_at = -float("inf")  # Trio time from which the badge may be read (again)
        # channel -> (seq, preview) of its newest message, kept only while a device wants previews
        self._latest: dict[int, tuple[int, Preview]] = {}
        self._timer: Timer | None = None
        self._wake: float | None = None  # when the timer is set for

    async def load(self, targets: dict[int, StoredTarget]) -> None:
        """Start from the user's stored targets, and read their levels (StoreError: not now)."""
        for device, target in targets.items():
            self.set_target(device, target)
        await self._read_levels()

    async def _read_levels(self) -> None:
        for channel, notify in (await self._services.store.notify_levels(self._user)).items():
            self._decisions.set_level(channel, notify)
        self._levels_read = True

    @property
    def settled(self) -> bool:
        """Nothing pending or remembered: the actor may passivate."""
        return self._decisions.settled

    @property
    def idle(self) -> bool:
        """No target and nothing pending: the actor may drop this side of it."""
        return not self._targets and self._decisions.settled

    # -- what the actor is told -----------------------------------------------------

    def set_target(self, device: int, target: StoredTarget | None) -> None:
        if target is None:
            self._targets.pop(device, None)
        else:
            self._targets[device] = target
        self._apply_now(self._decisions.set_target(device, target is not None))
        if not any(target.preview for target in self._targets.values()):
            self._latest.clear()

    def target_gone(self, device: int, registered: int) -> None:
        """The store removed the target registered at `registered`; a newer one stays."""
        target = self._targets.get(device)
        if target is not None and target.registered <= registered:
            self.set_target(device, None)

    def set_level(self, channel: int, notify: Notify | None) -> None:
        self._decisions.set_level(channel, notify)

    def set_live(self, device: int, live: bool) -> None:
        self._apply_now(self._decisions.set_live(device, live))

    async def posted(self, cue: Posted) -> None:
        self._unread.posted(cue.channel, cue.seq)
        if not self._targets:
            return
        if not self._levels_read:
            try:
                await self._read_levels()
            except StoreError as exc:
                # Not knowing whether the channel is muted, push nothing for it.
                log.warning("user %d: notify levels not read, message %d of channel %d not pushed: %s",
                            self._user, cue.seq, cue.channel, exc)  # fmt: skip
                return
        if self._services.push_policy.previews and any(target.preview for target in self._targets.values()):
            self._latest[cue.channel] = (cue.seq, Preview.of(cue.sender, cue.body))
        now = trio.current_time()
        effects = self._decisions.posted(cue.channel, cue.seq, cue.sender, cue.mentions, now, self._services.clock_ms())
        await self._apply(effects)

    async def read(self, cue: ReadMoved) -> None:
        self._unread.read(cue.channel, cue.seq)
        await self._apply(self._decisions.read(cue.channel, cue.seq, cue.device))

    def acked(self, device: int, channel: int, seq: int) -> None:
        self._apply_now(self._decisions.acked(device, channel, seq))

    async def deadline(self) -> None:
        self._timer, self._wake = None, None
        await self._apply(self._decisions.tick(trio.current_time()))

    # -- effects ----------------------------------------------------------------------------

    def _apply_now(self, effects: list[Effect]) -> None:
        """Effects that need no badge: withdrawals only."""
        for effect in effects:
            assert isinstance(effect, Withdraw), effect
            self._services.pusher.withdraw((self._user, effect.device, effect.channel))
        self._schedule()

    async def _apply(self, effects: list[Effect]) -> None:
        if any(not isinstance(effect, Withdraw) for effect in effects):
            await self._load_badge()
        pusher = self._services.pusher
        for effect in effects:
            key = (self._user, effect.device, effect.channel)
            if isinstance(effect, Withdraw):
                pusher.withdraw(key)
                continue
            target = self._targets[effect.device]
            urgent = isinstance(effect, Push)
            pusher.offer(
                Notification(
                    key=key,
                    target=provider_target(target),
                    channel=effect.channel,
                    seq=effect.seq,
                    unread=self._unread.total,
                    preview=self._preview(target, effect) if urgent else None,
                    urgency=Urgency.HIGH if urgent else Urgency.LOW,
                )
            )
        self._schedule()

    def _preview(self, target: StoredTarget, push: Push | Badge) -> Preview | None:
        if not (self._services.push_policy.previews and target.preview):
            return None
        seq, preview = self._latest.get(push.channel, (0, None))
        return preview if seq == push.seq else None

    async def _load_badge(self) -> None:
        if self._unread.loaded or trio.current_time() < self._badge_at:
            return
        try:
            self._unread.load(await self._services.store.unread(self._user))
        except StoreError as exc:
            self._badge_at = trio.current_time() + BADGE_RETRY
            log.warning("user %d: badge not read, pushes count what this node saw: %s", self._user, exc)

    def _schedule(self) -> None:
        """The one timer, at the earliest time the decisions asked for (none when they ask for none)."""
        wake = self._decisions.wake_at
        if wake is not None and self._wake is not None and self._wake <= wake:
            return  # it fires first, and the tick sets it again for what is left
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake = wake
        if wake is not None:
            services = self._services
            self._timer = services.timers.send_after(wake - trio.current_time(), services.user_ref(self._user), PushDeadline())
