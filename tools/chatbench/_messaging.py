"""pingpong, throughput and fanout: messages from senders to receivers, timed end to end.

All three are one load, a set of channels: a channel has `size` devices, the
first `senders` of which send, each keeping `in_flight` messages under way.
A message is under way from the moment its sender starts sending it until
every other member has received it; then that slot sends the next one.

    pingpong    direct channels of 2, one sender, 1 in flight
    throughput  direct channels of 2, one sender, W in flight
    fanout      groups of 100, S senders, 1 in flight each

A body carries its flow, slot and send time (`time.monotonic_ns`, one clock
for all processes), so any receiving device records the latency of its
delivery: sender's send call -> receiver's event handler, both through the
client library. Only deliveries inside the measured window count, for
latencies and for rates alike.

Against the baseline the same channels are relays on the bare server (see
_echo.py): one hop sender -> server -> receivers, which is the path a
chat message takes minus everything the node does on the way.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial

import trio
from attrs import define, field, frozen

from client import ChatError

from ._accounts import Account
from ._fleet import Control, sleep_until_ns
from ._links import LINK_LOST, Link, LinkStats, NodeLink, echo_link, node_link, open_all

#: Concurrent handshakes while setting up (setup is not measured).
CONNECT_CONCURRENCY = 64
#: Seconds after the window for messages under way to arrive; later ones count as incomplete.
DRAIN = 5.0
#: Pause after a refused send before the slot tries again.
ERROR_PAUSE = 0.05
_PAD = "x" * 100_000


@frozen
class ChannelPlan:
    """One channel: `name` is its relay path on the baseline, `accounts` its members on a node."""

    name: str
    size: int
    senders: int
    accounts: tuple[Account, ...] = ()


class Slot:
    """One message under way from one sender: how many receipts it still waits for."""

    __slots__ = ("index", "_remaining", "_done")

    def __init__(self, index: int) -> None:
        self.index = index
        self._remaining = 0
        self._done = trio.Event()

    def arm(self, receipts: int) -> trio.Event:
        self._remaining = receipts
        self._done = trio.Event()
        return self._done

    def disarm(self) -> None:
        self._remaining = 0

    @property
    def pending(self) -> bool:
        return self._remaining > 0

    def receipt(self) -> bool:
        """Count one delivery; True when it was the last one awaited."""
        if self._remaining <= 0:
            return False  # a stray: nothing of this slot is under way
        self._remaining -= 1
        if self._remaining:
            return False
        self._done.set()
        return True


@define(eq=False)
class Flow:
    """One sender's messages."""

    index: int
    link: Link
    channel: int
    receipts: int  # deliveries per message: the other members
    slots: list[Slot]


@define(eq=False)
class Recorder:
    """Every delivery this worker saw; only those inside [start, end) are kept."""

    flows: list[Flow] = field(factory=list)
    start_ns: int = 0
    end_ns: int = 0
    latency: array = field(factory=lambda: array("q"))
    arrivals: array = field(factory=lambda: array("q"))
    completion: array = field(factory=lambda: array("q"))
    sent: int = 0
    errors: int = 0

    def on_body(self, body: str) -> None:
        now = time.monotonic_ns()
        flow, slot, sent_text, _ = body.split(":", 3)
        sent = int(sent_text)
        counted = self.start_ns <= now < self.end_ns
        if counted:
            self.latency.append(now - sent)
            self.arrivals.append(now)
        if self.flows[int(flow)].slots[int(slot)].receipt() and counted:
            self.completion.append(now - sent)

    @property
    def delivered(self) -> int:
        return len(self.latency)


@frozen
class MessagingResult:
    links: int
    lost: int
    retried: int
    sent: int
    errors: int
    incomplete: int
    latency: array  # ns per delivery in the window
    arrivals: array  # monotonic ns of each of those deliveries
    completion: array  # ns until the last receiver had it, per message completed in the window


@frozen
class MessagingJob:
    """One worker's share of the channels; whole channels, so every receipt is seen by its sender's worker.

    A slot sends its next message as soon as its previous one has arrived,
    or, with an `interval`, no sooner than `interval` seconds after it sent
    the previous one (abuse paces its innocent pairs under the node's send limit).
    """

    url: str
    on_node: bool
    channels: tuple[ChannelPlan, ...]
    in_flight: int
    body: int
    heartbeat: float
    interval: float = 0.0

    async def run(self, ctl: Control) -> MessagingResult:
        recorder = Recorder()
        stats = LinkStats()
        release = trio.Event()
        async with trio.open_nursery() as held:
            openers: list[Callable[[], AbstractAsyncContextManager[Link]]] = []
            for plan in self.channels:
                openers += self._openers(plan, recorder.on_body)
            links = await open_all(
                held, openers, concurrency=CONNECT_CONCURRENCY, heartbeat=self.heartbeat,
                rng=random.Random(ctl.worker), stats=stats, release=release, opened=ctl.progress,
            )  # fmt: skip
            first = 0
            for plan in self.channels:
                members = links[first : first + plan.size]
                first += plan.size
                channel = await self._open_channel(plan, members)
                for sender in members[: plan.senders]:
                    slots = [Slot(i) for i in range(self.in_flight)]
                    recorder.flows.append(Flow(len(recorder.flows), sender, channel, plan.size - 1, slots))
            ctl.report("ready", len(links))
            go = await ctl.proceed()
            recorder.start_ns, recorder.end_ns = go.data
            async with trio.open_nursery() as running:
                running.start_soon(ctl.report_progress, lambda: recorder.delivered)
                await sleep_until_ns(go.at_ns)
                with trio.move_on_after((recorder.end_ns - time.monotonic_ns()) / 1e9 + DRAIN):
                    async with trio.open_nursery() as sending:
                        for flow in recorder.flows:
                            for slot in flow.slots:
                                sending.start_soon(self._send, recorder, flow, slot)
                running.cancel_scope.cancel()
            release.set()
        return MessagingResult(
            links=len(links),
            lost=stats.lost,
            retried=stats.retried,
            sent=recorder.sent,
            errors=recorder.errors,
            incomplete=sum(slot.pending for flow in recorder.flows for slot in flow.slots),
            latency=recorder.latency,
            arrivals=recorder.arrivals,
            completion=recorder.completion,
        )

    def _openers(
        self, plan: ChannelPlan, on_body: Callable[[str], None]
    ) -> list[Callable[[], AbstractAsyncContextManager[Link]]]:
        if self.on_node:
            return [partial(node_link, self.url, account.token, on_body) for account in plan.accounts]
        return [partial(echo_link, f"{self.url}/relay/{plan.name}", on_body) for _ in range(plan.size)]

    async def _open_channel(self, plan: ChannelPlan, members: Sequence[Link]) -> int:
        if not self.on_node:
            return 1  # the relay is the channel
        first = members[0]
        assert isinstance(first, NodeLink)
        others = [account.user for account in plan.accounts[1:]]
        if plan.size == 2:
            return await first.conn.direct(others[0])
        return await first.conn.group(plan.name, others)

    async def _send(self, recorder: Recorder, flow: Flow, slot: Slot) -> None:
        number = 0
        while time.monotonic_ns() < recorder.end_ns:
            number += 1
            done = slot.arm(flow.receipts)
            sent = time.monotonic_ns()
            head = f"{flow.index}:{slot.index}:{sent}:"
            try:
                await flow.link.send(flow.channel, head + _PAD[: max(0, self.body - len(head))], f"{head}{number}")
            except ChatError:
                slot.disarm()
                recorder.errors += 1
                await trio.sleep(ERROR_PAUSE)
                continue
            except LINK_LOST:
                slot.disarm()
                recorder.errors += 1
                return
            if recorder.start_ns <= sent < recorder.end_ns:
                recorder.sent += 1
            await done.wait()
            if self.interval:
                await sleep_until_ns(sent + int(self.interval * 1e9))


def plan_pairs(name: str, pairs: int, accounts: Sequence[Account] | None) -> list[ChannelPlan]:
    return [
        ChannelPlan(f"{name}{i}", 2, 1, tuple(accounts[2 * i : 2 * i + 2]) if accounts else ())
        for i in range(pairs)
    ]


def plan_groups(name: str, groups: int, members: int, senders: int, accounts: Sequence[Account] | None) -> list[ChannelPlan]:
    return [
        ChannelPlan(
            f"{name}{i}", members, senders, tuple(accounts[members * i : members * (i + 1)]) if accounts else ()
        )
        for i in range(groups)
    ]


def split(plans: Sequence[ChannelPlan], workers: int) -> list[tuple[ChannelPlan, ...]]:
    """Whole channels per worker, round robin; no empty shares."""
    shares = [tuple(plans[i::workers]) for i in range(workers)]
    return [share for share in shares if share]
