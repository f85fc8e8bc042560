"""The node's `push` child: a lane per provider, each a bounded queue, a connection pool and workers.

`offer` and `withdraw` are plain calls that never wait: the user's actor
makes them while handling a message, and a provider that hangs must not
hold that up. Each lane's workers (`PushConfig.concurrency` of them) take
pushes from the lane's `PushQueue`, send them over the lane's one HTTP/2
client, and settle them: sent, retried later, failed, or the target
reported dead through `on_gone` (once per target).
"""

from __future__ import annotations

import logging
import math
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

import httpx
import trio
from attrs import define, field

from ._api import Failure, Notification, PushCounters, PushKind, Target
from ._apns import ApnsSender
from ._config import PushConfig
from ._fcm import FcmSender
from ._outcome import Outcome
from ._queue import Entry, Offered, PushQueue, Settled
from ._safety import TargetError, check_target
from ._transport import Sender, UnsafeAddress, open_client
from ._webpush import WebPushSender

log = logging.getLogger(__name__)

#: Dead targets remembered, so that their other queued pushes are not sent and `on_gone` runs once.
GONE_MEMORY = 4096
#: At most one "our credentials were refused" error line per provider this often (seconds).
CREDENTIALS_LOG_EVERY = 60.0


@define
class _Lane:
    """One provider: its sender, its queue, its workers' parking place, its client once running."""

    sender: Sender
    queue: PushQueue
    lot: trio.lowlevel.ParkingLot = field(factory=trio.lowlevel.ParkingLot)
    client: httpx.AsyncClient | None = None
    credentials_logged: float = -math.inf


class Pusher:
    """Sends `Notification`s through the configured providers.

    `on_gone(notification)` is the node's: it removes `notification.target`
    from the store if it is still the one registered at `target.registered`
    (compare-and-delete), so a device that registered again meanwhile keeps
    its new target.
    """

    def __init__(
        self,
        config: PushConfig,
        on_gone: Callable[[Notification], Awaitable[None]],
        *,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._on_gone = on_gone
        self._gone: OrderedDict[Target, None] = OrderedDict()
        self._sent = self._collapsed = self._dropped = self._removed = 0
        self._failed: dict[Failure, int] = {}
        senders: list[Sender] = []
        if config.vapid is not None:
            senders.append(WebPushSender(config.vapid, config.previews))
        if config.fcm is not None:
            senders.append(FcmSender(config.fcm, config.fcm_url, config.previews))
        if config.apns is not None:
            senders.append(ApnsSender(config.apns, config.apns_url, config.apns_sandbox_url, config.previews))
        self._lanes: dict[PushKind, _Lane] = {}
        for sender in senders:
            lane = _Lane(sender, PushQueue(config.queue_size, config.tries, config.deadline, uniform))
            for kind in sender.kinds:
                self._lanes[kind] = lane

    @property
    def configured_kinds(self) -> frozenset[PushKind]:
        return frozenset(self._lanes)

    def check(self, target: Target) -> None:
        """Refuse (`TargetError`, its message for `bad_request`) a target this node cannot push to."""
        if target.kind not in self._lanes:
            raise TargetError(f"{target.kind} push is not configured on this node")
        check_target(target, self._config.allowed_hosts)

    def offer(self, notification: Notification) -> bool:
        """Queue `notification`, replacing a pending one with its key; False if it was dropped.

        Never waits. A full queue drops the newcomer (counted in `dropped`);
        a target already reported gone, or of a kind not configured, is
        refused too.
        """
        lane = self._lanes.get(notification.target.kind)
        if lane is None or notification.target in self._gone:
            return False
        offered = lane.queue.offer(notification, trio.current_time())
        if offered is Offered.DROPPED:
            self._dropped += 1
            return False
        if offered is Offered.COLLAPSED:
            self._collapsed += 1
        lane.lot.unpark()
        return True

    def withdraw(self, key: Hashable) -> bool:
        """Forget the push for `key` (an `ack` or `read` covered it); True if one was pending."""
        return any(lane.queue.withdraw(key) for lane in self._unique_lanes())

    @property
    def counters(self) -> PushCounters:
        return PushCounters(
            sent=self._sent,
            collapsed=self._collapsed,
            dropped=self._dropped,
            removed=self._removed,
            failed=dict(self._failed),
        )

    def queued(self) -> int:
        """Pushes held in all queues (pending or waiting to retry): bounded by the lanes' `queue_size`."""
        return sum(len(lane.queue) for lane in self._unique_lanes())

    def in_flight(self) -> int:
        """Requests out now: at most `concurrency` per provider."""
        return sum(lane.queue.in_flight for lane in self._unique_lanes())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open each provider's client and run its workers until cancelled."""
        async with trio.open_nursery() as nursery:
            for lane in self._unique_lanes():
                await nursery.start(self._run_lane, lane)
            task_status.started()

    def _unique_lanes(self) -> list[_Lane]:
        return list({id(lane): lane for lane in self._lanes.values()}.values())

    async def _run_lane(
        self, lane: _Lane, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = self._config
        async with open_client(config, lane.sender) as client:
            lane.client = client
            try:
                async with trio.open_nursery() as nursery:
                    for _ in range(config.concurrency):
                        nursery.start_soon(self._work, lane)
                    task_status.started()
            finally:
                lane.client = None

    async def _work(self, lane: _Lane) -> None:
        while True:
            entry = lane.queue.take(trio.current_time())
            if entry is None:
                due = lane.queue.next_due()
                with trio.move_on_at(math.inf if due is None else due):
                    await lane.lot.park()
                continue
            if entry.notification.target in self._gone:
                lane.queue.settle(entry, Outcome.gone("reported already"), trio.current_time())
                continue
            outcome = await self._attempt(lane, entry)
            await self._settle(lane, entry, outcome)

    async def _attempt(self, lane: _Lane, entry: Entry) -> Outcome:
        assert lane.client is not None
        with trio.move_on_after(self._config.timeout):
            try:
                return await lane.sender.send(lane.client, entry.notification)
            except UnsafeAddress as error:
                return Outcome.failed(Failure.UNSAFE, str(error))
            except (TargetError, httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
                # A target the provider cannot use (one stored before the checks it now fails).
                return Outcome.failed(Failure.REJECTED, str(error))
            except httpx.TransportError as error:
                return Outcome.retry(f"{type(error).__name__}: {error}")
        return Outcome.retry(f"no answer within {self._config.timeout} s")

    async def _settle(self, lane: _Lane, entry: Entry, outcome: Outcome) -> None:
        settled = lane.queue.settle(entry, outcome, trio.current_time())
        if settled is Settled.SENT:
            self._sent += 1
        elif settled is Settled.SUPERSEDED:
            self._collapsed += 1
        elif settled is Settled.GONE:
            await self._report_gone(entry.notification, outcome)
        elif settled is Settled.FAILED:
            assert outcome.failure is not None
            self._fail(outcome.failure)
            if outcome.failure is Failure.CREDENTIALS:
                self._credentials_refused(lane, outcome)
        elif settled is Settled.EXHAUSTED:
            self._fail(Failure.EXHAUSTED)
        elif settled is Settled.OVERFLOW:
            self._fail(Failure.OVERFLOW)
        elif settled is Settled.RETRYING:
            lane.lot.unpark()

    def _fail(self, failure: Failure) -> None:
        self._failed[failure] = self._failed.get(failure, 0) + 1

    def _credentials_refused(self, lane: _Lane, outcome: Outcome) -> None:
        now = trio.current_time()
        if now - lane.credentials_logged >= CREDENTIALS_LOG_EVERY:
            lane.credentials_logged = now
            log.error(
                "%s refused this node's credentials (%s): no push of this kind is delivered"
                " until they are fixed; %d refused so far",
                lane.sender.name,
                outcome.detail,
                self._failed[Failure.CREDENTIALS],
            )

    async def _report_gone(self, notification: Notification, outcome: Outcome) -> None:
        target = notification.target
        if target in self._gone:
            return
        self._gone[target] = None
        if len(self._gone) > GONE_MEMORY:
            self._gone.popitem(last=False)
        self._removed += 1
        log.info("push target of kind %s is gone (%s)", target.kind, outcome.detail)
        try:
            await self._on_gone(notification)
        except Exception:
            # The store may be down: the target stays and its next push finds it gone again.
            self._fail(Failure.GONE_REPORT)
            self._gone.pop(target, None)
            log.exception("could not remove a dead push target")
