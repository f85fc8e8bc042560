"""Cursors and gaps: every message reaches the app once, in seq order, by whichever path."""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field
from hypothesis import given, settings
from hypothesis import strategies as st

from client import ChannelInfo, ChannelKind, CursorTracker, Message, Verdict

ME = 100  # this client's device
OTHER = 200


def msg(seq: int, channel: int = 1, device: int = OTHER, cid: str | None = None) -> Message:
    return Message(channel, seq, 1, device, f"body {seq}", 0, cid or f"c{channel}-{seq}")


def info(channel: int, last: int) -> ChannelInfo:
    return ChannelInfo(channel, ChannelKind.GROUP, "g", frozenset({1}), last, 0)


def tracker() -> CursorTracker:
    t = CursorTracker()
    t.device = ME
    return t


def live(t: CursorTracker, m: Message) -> Verdict:
    verdict = t.on_live(m)
    if verdict is Verdict.DELIVER:
        t.delivered(m)
    return verdict


def test_in_order_live_messages_are_delivered_and_repeats_skipped() -> None:
    t = tracker()
    assert live(t, msg(1)) is Verdict.DELIVER
    assert live(t, msg(2)) is Verdict.DELIVER
    assert live(t, msg(2)) is Verdict.SKIP
    assert t.cursor(1) == 2 and not t.wants_sync


def test_a_gap_sends_the_channel_to_a_sync_worker_who_fetches_from_the_cursor() -> None:
    t = tracker()
    live(t, msg(1))
    assert live(t, msg(4)) is Verdict.FETCH
    assert t.wants_sync
    assert t.claim() == 1 and t.claim() is None
    # While claimed, live messages are left to the worker, even the next one.
    assert t.on_live(msg(5)) is Verdict.FETCH
    for seq in (2, 3, 4, 5):
        assert t.on_synced(msg(seq)) is Verdict.DELIVER
        t.delivered(msg(seq))
    assert t.page_done(1, after=1, more=False) is False
    assert t.cursor(1) == 5 and not t.wants_sync
    assert live(t, msg(6)) is Verdict.DELIVER


def test_a_live_message_overtaken_by_a_sync_page_is_not_delivered_twice() -> None:
    # The node stores 3, answers our sync with it, and only then fans it out:
    # the worker is still waiting for room to put 3 when the live copy comes.
    t = tracker()
    t.on_live(msg(2))
    assert t.claim() == 1
    for seq in (1, 2):
        assert t.on_synced(msg(seq)) is Verdict.DELIVER
        t.delivered(msg(seq))
    assert t.on_synced(msg(3)) is Verdict.DELIVER  # now awaiting room in the app's buffer
    assert t.on_live(msg(3)) is Verdict.FETCH  # the worker owns the channel: not delivered here
    t.delivered(msg(3))
    assert t.page_done(1, after=0, more=False) is False
    assert t.on_live(msg(3)) is Verdict.SKIP


def test_a_worker_keeps_the_channel_while_the_node_has_more() -> None:
    t = tracker()
    t.observe([info(1, 3)])
    assert t.claim() == 1
    t.on_synced(msg(1))
    t.delivered(msg(1))
    assert t.page_done(1, after=0, more=True) is True
    t.on_synced(msg(2))
    t.delivered(msg(2))
    # The node said no more, but a live seq 3 was seen meanwhile: the channel
    # is released and queued again, behind any other channel waiting.
    t.observe([info(2, 1)])
    assert t.page_done(1, after=1, more=False) is False
    assert t.claim() == 2 and t.claim() == 1


def test_a_worker_gives_up_when_the_node_has_nothing_past_the_cursor() -> None:
    t = tracker()
    live(t, msg(1))
    t.on_live(msg(9))  # a seq the node then does not return
    assert t.claim() == 1
    assert t.page_done(1, after=1, more=False) is False
    assert not t.wants_sync and t.claim() is None
    # The gap shows again with the next live message.
    assert t.on_live(msg(10)) is Verdict.FETCH and t.wants_sync


def test_a_hole_inside_a_page_is_not_delivered_past() -> None:
    t = tracker()
    t.observe([info(1, 3)])
    t.claim()
    assert t.on_synced(msg(2)) is Verdict.FETCH
    assert t.page_done(1, after=0, more=False) is False
    assert t.cursor(1) == 0


def test_a_full_app_buffer_turns_a_live_message_into_a_gap() -> None:
    t = tracker()
    assert t.on_live(msg(1)) is Verdict.DELIVER
    t.undelivered(msg(1))
    assert t.cursor(1) == 0 and t.claim() == 1


def test_own_sends_are_skipped_whichever_comes_first_ack_or_sync() -> None:
    t = tracker()
    live(t, msg(1))
    # Acknowledged before the cursor reaches it: remembered, absorbed later.
    t.sending(1, "mine-3")
    t.sent(1, "mine-3", 3)
    assert t.cursor(1) == 1
    # Not yet acknowledged when a sync returns it: recognised by device and cid.
    t.sending(1, "mine-4")
    live(t, msg(5))
    assert t.claim() == 1
    assert t.on_synced(msg(2)) is Verdict.DELIVER
    t.delivered(msg(2))
    assert t.cursor(1) == 3  # 3 was ours
    assert t.on_synced(msg(3, device=ME, cid="mine-3")) is Verdict.SKIP
    assert t.on_synced(msg(4, device=ME, cid="mine-4")) is Verdict.SKIP
    assert t.on_synced(msg(5)) is Verdict.DELIVER
    t.delivered(msg(5))
    t.sent(1, "mine-4", 4)
    assert t.page_done(1, after=1, more=False) is False
    assert t.cursor(1) == 5


def test_another_device_of_ours_with_the_same_cid_is_not_mistaken_for_this_client() -> None:
    t = tracker()
    t.sending(1, "dup")
    t.observe([info(1, 1)])
    t.claim()
    assert t.on_synced(msg(1, device=OTHER, cid="dup")) is Verdict.DELIVER


def test_an_own_send_next_to_the_cursor_moves_it_at_once() -> None:
    t = tracker()
    t.sending(1, "a")
    t.sent(1, "a", 1)
    assert t.cursor(1) == 1
    t.sending(1, "b")
    t.sent(1, "b", None)  # failed: nothing moves
    assert t.cursor(1) == 1


def test_own_seqs_are_capped_and_the_forgotten_come_back_through_sync() -> None:
    t = CursorTracker(own_limit=2)
    t.device = ME
    for seq in (3, 4, 5):
        t.sending(1, f"m{seq}")
        t.sent(1, f"m{seq}", seq)
    live(t, msg(1))
    live(t, msg(2))
    assert t.cursor(1) == 2  # 3 was forgotten, so 4 and 5 wait behind it
    t.observe([info(1, 5)])
    t.claim()
    assert t.on_synced(msg(3, device=ME, cid="m3")) is Verdict.DELIVER
    t.delivered(msg(3))
    assert t.cursor(1) == 5


def test_cursors_resume_from_a_snapshot() -> None:
    t = CursorTracker.starting_at({1: 10, 2: 0})
    t.observe([info(1, 12), info(2, 0), info(3, 1)])
    assert {t.claim(), t.claim()} == {1, 3}
    assert t.claim() is None
    assert t.snapshot() == {1: 10, 2: 0, 3: 0}


def test_forgetting_a_channel_ends_its_sync_quietly() -> None:
    t = tracker()
    t.observe([info(1, 5)])
    assert t.claim() == 1
    t.forget(1)
    assert t.on_synced(msg(1)) is Verdict.SKIP
    assert t.page_done(1, after=0, more=True) is False
    t.release(1)
    assert not t.wants_sync and t.snapshot() == {}


def test_a_released_channel_that_is_still_behind_can_be_claimed_again() -> None:
    t = tracker()
    t.observe([info(1, 5)])
    assert t.claim() == 1
    t.release(1)  # the worker was cancelled by a disconnect
    assert t.claim() == 1


# -- a model: a node, a lossy live stream, a sync worker and own sends, interleaved --


@define
class Node:
    """The node's side: what is stored, what is still to be fanned out live, what is unacknowledged."""

    page_limit: int
    stored: dict[int, list[Message]] = field(factory=dict)
    fanout: dict[int, list[Message]] = field(factory=dict)
    unacked: list[Message] = field(factory=list)
    own: set[tuple[int, int]] = field(factory=set)

    def store(self, t: CursorTracker, channel: int, mine: bool) -> None:
        seq = len(self.stored.setdefault(channel, [])) + 1
        m = msg(seq, channel, ME if mine else OTHER, f"x{channel}-{seq}")
        self.stored[channel].append(m)
        if mine:
            t.sending(channel, m.cid)
            self.unacked.append(m)
            self.own.add((channel, seq))
        else:
            self.fanout.setdefault(channel, []).append(m)

    def page(self, channel: int, after: int) -> tuple[list[Message], bool]:
        rest = self.stored.get(channel, [])[after:]
        return rest[: self.page_limit], len(rest) > self.page_limit


@define
class Worker:
    """A sync worker, one await at a time: fetching a page, then putting each message (which may wait)."""

    t: CursorTracker
    node: Node
    deliver: Callable[[Message], None]
    channel: int | None = None
    after: int = 0
    page: list[Message] | None = None
    more: bool = False
    putting: Message | None = None  # decided DELIVER, waiting for room in the app's buffer

    def step(self) -> None:
        if self.putting is not None:
            self.deliver(self.putting)
            self.putting = None
        elif self.channel is None:
            self.channel = self.t.claim()
        elif self.page is None:
            self.after = self.t.cursor(self.channel)
            self.page, self.more = self.node.page(self.channel, self.after)
        elif self.page:
            m = self.page.pop(0)
            verdict = self.t.on_synced(m)
            if verdict is Verdict.DELIVER:
                self.putting = m
            elif verdict is Verdict.FETCH:
                self.page = []
        else:
            self.page = None
            if not self.t.page_done(self.channel, self.after, self.more):
                self.channel = None

    def cancel(self) -> None:
        if self.channel is not None:
            self.t.release(self.channel)
        self.channel, self.page, self.putting = None, None, None

    @property
    def idle(self) -> bool:
        return self.channel is None and not self.t.wants_sync


OPS = st.sampled_from(["store", "store", "fanout", "fanout", "ack", "worker", "worker", "worker", "reconnect"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(OPS, st.sampled_from([1, 1, 1, 2]), st.booleans(), st.booleans(), st.integers(0, 7)),
        max_size=120,
    ),
    st.integers(1, 4),
)
def test_model_every_message_once_in_order(ops: list[tuple[str, int, bool, bool, int]], page_limit: int) -> None:
    t = tracker()
    node = Node(page_limit)
    got: dict[int, list[int]] = {}

    def deliver(m: Message) -> None:
        got.setdefault(m.channel, []).append(m.seq)
        t.delivered(m)
        assert got[m.channel] == sorted(set(got[m.channel])), "out of order or twice"

    worker = Worker(t, node, deliver)

    def reconnect() -> None:
        worker.cancel()  # cancelled with the connection, even mid-put
        node.fanout.clear()  # what was in flight is lost
        t.observe([info(c, len(ms)) for c, ms in node.stored.items()])

    for op, channel, flag, room, pick in ops:
        if op == "store":
            node.store(t, channel, mine=flag)
        elif op == "fanout" and node.fanout.get(channel):
            m = node.fanout[channel].pop(0)
            if flag and t.on_live(m) is Verdict.DELIVER:  # else lost on the way
                if room:
                    deliver(m)
                else:
                    t.undelivered(m)  # the app's buffer was full
        elif op == "ack" and node.unacked:
            m = node.unacked.pop(pick % len(node.unacked))
            t.sent(m.channel, m.cid, m.seq)
        elif op == "worker":
            worker.step()
        elif op == "reconnect":
            reconnect()

    # Quiesce: every send answered, one last reconnect, the worker runs dry.
    for m in node.unacked:
        t.sent(m.channel, m.cid, m.seq)
    reconnect()
    for _ in range(10_000):
        if worker.idle:
            break
        worker.step()
    for channel, stored in node.stored.items():
        assert got.get(channel, []) == [m.seq for m in stored if (channel, m.seq) not in node.own]
        assert t.cursor(channel) == len(stored)
